# Simulator: Authorization header checks on platform and hub calls (401/403).

use strict;
use warnings;

use Test::More;
use OCSim;

my $sim = OCSim->start(user_secret => 'u-1', org_secret => 'o-1');
is($sim->user_secret, 'u-1', 'user secret given');
is($sim->org_secret, 'o-1', 'org secret given');

sub status_of {
    my ($path, $auth, %o) = @_;
    my $r = $sim->api(GET => $path, undef, auth => $auth, %o);
    return $r->{status};
}

sub is_401 {
    my ($r, $name) = @_;
    is($r->{status}, 401, "$name: 401");
    ok($r->{json} && $r->{json}{requestId} && $r->{json}{message},
        "$name: error body");
}

# ---- platform -----------------------------------------------------------------

is(status_of('/instances', 'User u-1, Organization o-1'), 200, 'exact header');
is(status_of('/instances', '  User   u-1 ,Organization  o-1  '), 200,
    'whitespace tolerated');
is(status_of('/instances', 'user u-1, organization o-1'), 200,
    'keyword case tolerated');
is(status_of('/instances', 'Organization o-1, User u-1'), 200, 'any order');
is(status_of('/instances', 'User u-1, Organization o-1, Element whatever'),
    200, 'triple form accepted on platform calls');
my $r = $sim->api(GET => '/instances', undef, auth => undef,
    headers => { authorization => 'User u-1, Organization o-1' });
is($r->{status}, 200, 'header name is case-insensitive');

is_401($sim->api(GET => '/instances', undef, auth => undef), 'no header');
is_401($sim->api(GET => '/instances', undef, auth => 'User u-1'), 'no org');
is_401($sim->api(GET => '/instances', undef,
    auth => 'User wrong, Organization o-1'), 'wrong user');
is_401($sim->api(GET => '/instances', undef,
    auth => 'User u-1, Organization wrong'), 'wrong org');
is_401($sim->api(GET => '/instances', undef, auth => 'Bearer xyz'),
    'other scheme');
is_401($sim->api(POST => '/instances', { name => 'x' },
    auth => 'User u-1, Organization nope'), 'POST with wrong org');
is_401($sim->api(DELETE => '/instances/1', undef, auth => 'User x, Organization y'),
    'DELETE with wrong secrets');
is_401($sim->api(GET => '/elements/pipedrive/oauth/url?apiKey=k&apiSecret=s'
    . '&callbackUrl=http://cb', undef, auth => undef), 'oauth url needs auth');
is(scalar @{ $sim->instances }, 0, 'nothing was created');

# ---- hub ------------------------------------------------------------------------

my $inst = $sim->seed_instance(name => 'h', auth => 'emailPassword');
my $tok = $inst->{token};

$r = $sim->api(GET => '/hubs/crm/contacts', undef, element => $tok);
is($r->{status}, 200, 'triple form');
is($r->{headers}{'elements-element-instance-id'}, $inst->{id},
    'instance id header');
is(status_of('/hubs/crm/contacts', "User u-1, Element $tok"), 200,
    'short form (no Organization)');
is(status_of('/hubs/crm/contacts', " user u-1 ,  element  $tok "), 200,
    'short form, sloppy spacing');
is(status_of('/hubs/crm/contacts', "Element $tok, Organization o-1, User u-1"),
    200, 'triple form in another order');

is_401($sim->api(GET => '/hubs/crm/contacts', undef,
    auth => "User wrong, Organization o-1, Element $tok"), 'hub: wrong user');
is_401($sim->api(GET => '/hubs/crm/contacts', undef,
    auth => "User u-1, Organization wrong, Element $tok"), 'hub: wrong org');
is_401($sim->api(GET => '/hubs/crm/contacts', undef,
    auth => "Organization o-1, Element $tok"), 'hub: no user');
is_401($sim->api(GET => '/hubs/crm/contacts'), 'hub: no element');
is_401($sim->api(GET => '/hubs/crm/contacts', undef, element => 'bm9wZQ=='),
    'hub: unknown token');
is_401($sim->api(GET => '/hubs/crm/contacts', undef, element => $tok . 'x'),
    'hub: token with a suffix');
is_401($sim->api(GET => '/hubs/crm/ping', undef, auth => undef),
    'ping needs auth');

# rotate: the old token dies, the new one works
my $new = $sim->rotate($inst->{id});
isnt($new, $tok, 'rotate gives a new token');
is_401($sim->api(GET => '/hubs/crm/ping', undef, element => $tok),
    'old token after rotate');
is($sim->api(GET => '/hubs/crm/ping', undef, element => $new)->{status}, 200,
    'new token after rotate');
is($sim->api(GET => "/instances/$inst->{id}")->{json}{token}, $new,
    'instance shows the new token');

# disable (403), enable, delete (401) through the control interface
$sim->disable($inst->{id});
$r = $sim->api(GET => '/hubs/crm/contacts', undef, element => $new);
is($r->{status}, 403, 'disabled: 403');
is($r->{json}{message}, 'Instance is disabled', 'disabled: message');
ok((grep { $_->{id} == $inst->{id} } @{ $sim->instances })[0]{disabled},
    'control view flags disabled');
$sim->enable($inst->{id});
is(status_of('/hubs/crm/contacts', "User u-1, Element $new"), 200,
    'enabled again');
$sim->delete_instance($inst->{id});
is_401($sim->api(GET => '/hubs/crm/contacts', undef, element => $new),
    'deleted instance');

is($sim->count('GET /hubs/contacts'), 13, 'hub calls counted, failed ones too');
is($sim->count('DELETE /instances/{id}'), 1, 'platform failures counted');
ok(!grep({ $_->{endpoint} =~ /^POST \/_sim/ } @{ $sim->calls }),
    'control calls are not recorded');
my ($last) = grep { $_->{endpoint} eq 'GET /hubs/contacts' } reverse @{ $sim->calls };
is($last->{authorization}, "User u-1, Organization o-1, Element $new",
    'the Authorization header is recorded');

done_testing;
