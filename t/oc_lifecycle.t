#!/usr/bin/perl

# Token lifecycle: a deleted instance is provisioned again after the
# upstream's 401 (one re-resolution for 100 concurrent 401s), a rotated
# token is fetched with one GET, a disabled instance refuses requests and
# comes back by itself once enabled.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use lib 't/lib';
use OCTest;
use OCConf;
use OCMany;

sub wait_for {
    my ($cond, $secs) = @_;
    my $end = time + ($secs // 5);
    until ($cond->()) {
        return 0 if time > $end;
        sleep 0.05;
    }
    return 1;
}

# deleted: the 401 passes through once, then a new instance is used
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(workers => 2))->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'deleted: warm');
    my ($old) = @{ $sim->instances };
    $sim->delete_instance($old->{id});
    $sim->reset;

    like(http_get('/crm/contacts'), qr/ 401 /,
         'deleted: the upstream 401 reaches the client unchanged');
    like(http_get('/crm/contacts'), qr/ 200 /, 'deleted: then success');

    my ($new) = grep { !$_->{deleted} } @{ $sim->instances };
    isnt($new->{id}, $old->{id}, 'deleted: a new instance');
    is(hub_token($sim), $new->{token}, 'deleted: its token used');
    is($sim->count('GET /instances/{id}'), 1, 'deleted: one GET by id');
    is($sim->count('POST /instances'), 1, 'deleted: one POST');
    ok($t->grep_log(qr/instance $old->{id} no longer exists/),
       'deleted: logged');

    # 100 concurrent requests with a dead token: one re-resolution
    $sim->delete_instance($new->{id});
    $sim->reset;

    my @r = http_many(100, '/crm/contacts');
    my %st;
    $st{ (/^HTTP\/1\.1 (\d+)/)[0] // 'none' }++ for @r;
    is(($st{401} // 0) + ($st{200} // 0), 100,
       'concurrent 401: every request answered 401 or 200')
        or diag explain \%st;
    ok($st{401}, 'concurrent 401: some saw the 401');
    is($sim->count('GET /instances/{id}'), 1,
       'concurrent 401: one GET by id');
    is($sim->count('POST /instances'), 1, 'concurrent 401: one POST');
    is(scalar $t->grep_log(qr/upstream answered 401 with the token of /
                           . qr/instance $new->{id},/), 1,
       'concurrent 401: one stale mark');
    like(http_get('/crm/contacts'), qr/ 200 /, 'concurrent 401: recovered');
    $t->stop;
}

# rotated token: one GET /instances/{id}, no POST
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf())->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'rotated: warm');
    my ($inst) = @{ $sim->instances };
    my $token = $sim->rotate($inst->{id});
    $sim->reset;

    like(http_get('/crm/contacts'), qr/ 401 /, 'rotated: 401 once');
    like(http_get('/crm/contacts'), qr/ 200 /, 'rotated: then success');
    is(hub_token($sim), $token, 'rotated: new token used');
    is($sim->count('GET /instances/{id}'), 1, 'rotated: one GET by id');
    is($sim->count('GET /elements/{key}/instances'), 0, 'rotated: no list');
    is($sim->count('POST /instances'), 0, 'rotated: no POST');
    $t->stop;
}

# disabled, then enabled again
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(http => 'oc_recheck_interval 1s;'))->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'disabled: warm');
    my ($inst) = @{ $sim->instances };
    $sim->disable($inst->{id});

    like(http_get('/crm/contacts'), qr/ 403 /,
         'disabled: the upstream 403 passes through');

    ok(wait_for(sub { $sim->count('GET /instances/{id}') >= 1 }),
       'disabled: the module asks Open Connectors');
    sleep 0.2;

    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, 'disabled: 503');
    like(http_header($r, 'Retry-After') // '', qr/^\d+$/,
         'disabled: Retry-After');
    is(decode_json(http_body($r))->{reason},
       'instance disabled in Open Connectors', 'disabled: reason');

    $sim->enable($inst->{id});
    $sim->reset;

    my $ok = wait_for(sub { http_get('/crm/contacts') =~ / 200 / }, 4);
    ok($ok, 'enabled: success again without a reload');
    cmp_ok($sim->count('GET /instances/{id}'), '<=', 2,
           'enabled: rechecked at oc_recheck_interval, not per request');
    is($sim->count('POST /instances'), 0, 'enabled: same instance');
    is(hub_token($sim), $inst->{token}, 'enabled: same token');
    $t->stop;
}

done_testing;
