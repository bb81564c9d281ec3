# Simulator: control interface (/_sim/*): calls, endpoint names, reset, seeding.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use OCSim;

my $sim = OCSim->start(page_size => 3);

like($sim->ready_line, qr{^ocsim ready on http://127\.0\.0\.1:\d+$},
    'ready line');
like($sim->base_url, qr{^http://127\.0\.0\.1:\d+$}, 'base_url');
is($sim->api_url, $sim->base_url . '/elements/api-v2', 'api_url');
ok($sim->port > 0, 'a port was picked');
is_deeply($sim->health, { ok => JSON::PP::true }, 'health');

# ---- recorded calls -------------------------------------------------------------

is_deeply($sim->calls, [], 'no calls yet');
is_deeply($sim->counts, {}, 'no counts yet');

my $t0 = time;
$sim->api(POST => '/instances?x=1', { element => { key => 'pipedrive' },
    name => 'c', configuration => { 'pipedrive.email' => 'e',
    'pipedrive.password' => 'p' } });
my $call = $sim->calls->[0];
is($call->{method}, 'POST', 'call method');
is($call->{path}, '/elements/api-v2/instances', 'call path without query');
is($call->{query}, 'x=1', 'call query');
is($call->{endpoint}, 'POST /instances', 'call endpoint');
is($call->{authorization}, $sim->platform_auth, 'call authorization');
is_deeply(decode_json($call->{body})->{configuration}{'pipedrive.password'},
    'p', 'call body is the raw request body');
ok($call->{time} >= $t0 - 1 && $call->{time} <= time + 1, 'call time');

# Every endpoint template, as the control interface names it.
my $tok = $sim->seed_instance(name => 'names')->{token};
my @cases = (
    [GET => '/instances', 'GET /instances'],
    [GET => '/instances/1', 'GET /instances/{id}'],
    [PUT => '/instances/1', 'PUT /instances/{id}'],
    [PATCH => '/instances/1', 'PATCH /instances/{id}'],
    [PUT => '/instances/1/enabled', 'PUT /instances/{id}/enabled'],
    [DELETE => '/instances/1/enabled', 'DELETE /instances/{id}/enabled'],
    [GET => '/elements/pipedrive/instances', 'GET /elements/{key}/instances'],
    [POST => '/elements/pipedrive/instances', 'POST /elements/{key}/instances'],
    [GET => '/elements/pipedrive/oauth/url', 'GET /elements/{key}/oauth/url'],
    [GET => '/hubs/crm/contacts', 'GET /hubs/contacts'],
    [GET => '/hubs/marketing/contacts', 'GET /hubs/contacts'],
    [GET => '/contacts', 'GET /hubs/contacts'],
    [POST => '/hubs/crm/notes', 'POST /hubs/notes'],
    [GET => '/hubs/crm/notes/2', 'GET /hubs/notes/{id}'],
    [DELETE => '/users/3', 'DELETE /hubs/users/{id}'],
    [GET => '/hubs/crm/ping', 'GET /hubs/ping'],
    [GET => '/something/else', 'GET other'],
    [DELETE => '/instances/1', 'DELETE /instances/{id}'],
);
for my $c (@cases) {
    $sim->reset;
    $sim->api($c->[0], $c->[1], $c->[0] =~ /^P/ ? {} : undef, element => $tok);
    is_deeply($sim->counts, { $c->[2] => 1 }, "$c->[0] $c->[1] is '$c->[2]'");
}
$sim->reset;
$sim->request(GET => '/_sim/consent?redirect_uri=http://x');
$sim->request(GET => '/');
is_deeply($sim->counts, { 'GET /consent' => 1, 'GET other' => 1 },
    'consent page and paths outside the API are recorded');

$sim->reset;
$sim->api(GET => '/instances') for 1 .. 3;
is($sim->count('GET /instances'), 3, 'count');
is($sim->counts->{'GET /instances'}, 3, 'counts');
is(scalar @{ $sim->calls }, 3, 'calls');

# control calls are never recorded
$sim->reset;
$sim->health; $sim->instances; $sim->new_code; $sim->consent(undef);
$sim->clear_faults; $sim->calls;
is_deeply($sim->counts, {}, 'control calls are not recorded');

# ---- reset ---------------------------------------------------------------------------

my $code = $sim->new_code;
ok($code, 'new_code');
$sim->fault(endpoint => 'GET /instances', status => 500);
$sim->reset;
is_deeply($sim->calls, [], 'reset clears calls');
is($sim->api(GET => '/instances')->{status}, 200, 'reset clears faults');
is(scalar @{ $sim->instances }, 2, 'reset keeps instances');

$sim->reset_all;
is_deeply($sim->instances, [], 'reset_all clears instances');
is_deeply($sim->calls, [], 'reset_all clears calls');
my $r = $sim->api(POST => '/instances', { element => { key => 'pipedrive' },
    name => 'o', providerData => { code => $code },
    configuration => { 'authentication.type' => 'oauth2',
        'oauth.api.key' => 'k', 'oauth.api.secret' => 's',
        'oauth.callback.url' => 'http://cb' } });
is($r->{status}, 400, 'reset_all forgets issued codes');
my $next = $sim->seed_instance(name => 'n');
is($next->{id}, 3, 'ids keep increasing across reset_all');

# ---- instances through the control interface ------------------------------------------

my $seed = $sim->seed_instance(name => 'seed', auth => 'accessToken',
    tags => ['a', 'b'], config => { 'pipedrive.api.token' => 'real-token' });
is($seed->{name}, 'seed', 'seed name');
is_deeply($seed->{tags}, ['a', 'b'], 'seed tags');
is($seed->{configuration}{'pipedrive.api.token'}, 'real-token',
    'seed answer is unmasked');
is($seed->{configuration}{'authentication.type'}, 'accessToken', 'seed auth');
is($seed->{configuration}{'pagination.max'}, '100', 'seed gets defaults');
ok(!$seed->{deleted} && !$seed->{disabled} && !$seed->{oauth_dead}, 'flags');
like($seed->{token}, qr{^[A-Za-z0-9+/]{43}=$}, 'seed token');

my $bare = $sim->seed_instance(config => {});
ok($bare->{id}, 'seed needs no name and no required keys');
is($sim->seed_instance(name => 'd', disabled => 1)->{disabled},
    JSON::PP::true, 'seed can start disabled');

$r = $sim->api(GET => "/instances/$seed->{id}");
is($r->{json}{configuration}{'pipedrive.api.token'}, '********',
    'the API masks a seeded instance');

my ($listed) = grep { $_->{id} == $seed->{id} } @{ $sim->instances };
is($listed->{token}, $seed->{token}, 'instances: real token');
is($listed->{configuration}{'pipedrive.api.token'}, 'real-token',
    'instances: unmasked');
ok(exists $listed->{$_}, "instances: has $_") for qw(deleted disabled oauth_dead);

my $new = $sim->rotate($seed->{id});
like($new, qr{^[A-Za-z0-9+/]{43}=$}, 'rotate returns a token');
($listed) = grep { $_->{id} == $seed->{id} } @{ $sim->instances };
is($listed->{token}, $new, 'rotated token stored');

$sim->reset;
$sim->disable($seed->{id});
ok((grep { $_->{id} == $seed->{id} } @{ $sim->instances })[0]{disabled},
    'disable');
$sim->enable($seed->{id});
ok(!(grep { $_->{id} == $seed->{id} } @{ $sim->instances })[0]{disabled},
    'enable');
$sim->delete_instance($seed->{id});
ok((grep { $_->{id} == $seed->{id} } @{ $sim->instances })[0]{deleted},
    'delete');
is_deeply($sim->counts, {}, 'control instance actions are not recorded');

for my $bad ([POST => '/_sim/instances/999/rotate', 404],
             [POST => '/_sim/nothing', 404],
             [GET => '/_sim/fault', 404],
             [POST => '/_sim/consent', 400, '{"auto":"maybe"}'],
             [POST => '/_sim/instances', 400, '{"configuration":[]}'],
             [POST => '/_sim/fault', 400, 'not json'])
{
    $r = $sim->request($bad->[0], $bad->[1],
        defined $bad->[3] ? (content => $bad->[3]) : ());
    is($r->{status}, $bad->[2], "$bad->[0] $bad->[1] -> $bad->[2]");
    ok($r->{json}{message}, '... with a message');
}

done_testing;
