#!/usr/bin/perl

# Resolution: an existing instance is found (also on a later page, also
# among duplicates), a missing one is created once, accessToken instances are
# provisioned with their key, and "create off" never creates.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;
use OCConf;
use JSON::PP;

my %seed = (auth => 'emailPassword',
            config => { 'pipedrive.email' => 'a@b',
                        'pipedrive.password' => 'x' });

# found: zero POST /instances
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $inst = $sim->seed_instance(name => 'acme-crm', %seed);
    $t->write_conf(oc_conf())->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'existing: request ok');
    is($sim->count('POST /instances'), 0, 'existing: no POST /instances');
    is(hub_token($sim), $inst->{token}, 'existing: its token used');
    ok($t->grep_log(
           qr/\[notice\].*oc_instance "pd": \w+ instance $inst->{id} /),
       'existing: resolution logged');
    $t->stop;
}

# none: exactly one POST /instances, with element, name, tags, auth type
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(extra => 'tags acme prod;'))->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'none: request ok');
    is($sim->count('POST /instances'), 1, 'none: one POST /instances');

    my ($post) = grep { $_->{endpoint} eq 'POST /instances' }
                 @{ $sim->calls };
    my $body = decode_json($post->{body});
    is($body->{element}{key}, 'pipedrive', 'none: element key sent');
    is($body->{name}, 'acme-crm', 'none: name sent');
    is($body->{configuration}{'authentication.type'}, 'emailPassword',
       'none: authentication.type sent');
    is($body->{configuration}{'pipedrive.email'}, 'ops@example.com',
       'none: configuration sent');
    ok((grep { $_ eq 'acme' } @{ $body->{tags} })
       && (grep { $_ eq 'prod' } @{ $body->{tags} }), 'none: tags sent');

    my @all = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
    is(scalar @all, 1, 'none: one instance exists');
    is(hub_token($sim), $all[0]{token}, 'none: the new token used');

    like(http_get('/crm/accounts'), qr/ 200 /, 'none: second request');
    is($sim->count('GET /elements/{key}/instances'), 3,
       'none: a tag search, a scan of one page, a tag search after '
       . 'creating, nothing per request');
    $t->stop;
}

# duplicates: the lowest id wins
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $a = $sim->seed_instance(name => 'acme-crm', %seed);
    my $b = $sim->seed_instance(name => 'acme-crm', %seed);
    ok($a->{id} < $b->{id}, 'duplicates: ids ordered');
    $t->write_conf(oc_conf())->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'duplicates: request ok');
    is(hub_token($sim), $a->{token}, 'duplicates: lowest id token used');
    is($sim->count('POST /instances'), 0, 'duplicates: no POST');
    is(scalar $t->grep_log(qr/duplicate instance $b->{id} /), 1,
       'duplicates: the other one reported once');
    $t->stop;
}

# the match on the third page
{
    my $t = OCTest->new;
    my $sim = $t->sim(max_page_size => 2);
    $sim->seed_instance(name => "other-$_", %seed) for 1 .. 4;
    my $inst = $sim->seed_instance(name => 'acme-crm', %seed);
    $t->write_conf(oc_conf())->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'page 3: request ok');
    is($sim->count('GET /elements/{key}/instances'), 4,
       'page 3: a tag search and three pages read');
    is($sim->count('POST /instances'), 0, 'page 3: no POST');
    is(hub_token($sim), $inst->{token}, 'page 3: its token used');

    my @q = map { $_->{query} }
            grep { $_->{endpoint} eq 'GET /elements/{key}/instances' }
            @{ $sim->calls };
    like($q[0], qr/tags%5B%5D=ngx-oc%3Apipedrive%3Aacme-crm/,
         'page 3: first the tag search');
    like($q[1], qr/^pageSize=200$/, 'page 3: then the scan, 200 a page');
    like($q[3], qr/nextPage=/, 'page 3: next page token followed');
    $t->stop;
}

# accessToken
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(auth => 'accessToken',
                           config => { 'pipedrive.api.token' => 'pd-tok' }))
      ->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'accessToken: request ok');
    my ($post) = grep { $_->{endpoint} eq 'POST /instances' }
                 @{ $sim->calls };
    my $body = decode_json($post->{body});
    is($body->{configuration}{'authentication.type'}, 'accessToken',
       'accessToken: authentication.type');
    is($body->{configuration}{'pipedrive.api.token'}, 'pd-tok',
       'accessToken: pipedrive.api.token');
    my ($inst) = @{ $sim->instances };
    is($inst->{configuration}{'pipedrive.api.token'}, 'pd-tok',
       'accessToken: simulator holds the key');
    $t->stop;
}

# create off: 503, and never a POST
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(extra => 'create off;'))->run;

    my $r = http_get('/crm/contacts');
    like($r, qr/ 503 /, 'create off: 503');
    like($r, qr/no instance named/, 'create off: reason in the body');
    http_get('/crm/contacts') for 1 .. 5;
    is($sim->count('POST /instances'), 0, 'create off: no POST');
    $t->stop;
}

done_testing;
