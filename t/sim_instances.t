# Simulator: instance CRUD, required keys, defaults, masking, enable/disable.

use strict;
use warnings;

use Test::More;
use OCSim;

my $sim = OCSim->start;

sub ep_body {
    my (%o) = @_;
    return {
        element => { key => 'pipedrive' },
        name => $o{name} // 'crm',
        ($o{tags} ? (tags => $o{tags}) : ()),
        configuration => {
            'authentication.type' => 'emailPassword',
            'pipedrive.email' => 'me@example.com',
            'pipedrive.password' => 'pd-secret',
            %{ $o{config} // {} },
        },
    };
}

# ---- create -----------------------------------------------------------------

my $r = $sim->api(GET => '/instances');
is($r->{status}, 200, 'empty unfiltered list is 200');
is_deeply($r->{json}, [], 'empty unfiltered list is []');

$r = $sim->api(POST => '/instances', ep_body(name => 'crm',
    config => { 'pipedrive.api.token' => 'tok-secret',
                'filter.response.nulls' => 'false' }));
is($r->{status}, 200, 'create answers 200');
my $a = $r->{json};
is($a->{id}, 1, 'first id is 1');
is($a->{name}, 'crm', 'name');
like($a->{token}, qr{^[A-Za-z0-9+/]{43}=$}, 'token is base64 of 32 bytes');
like($a->{token}, qr{\+}, 'token has a +');
like($a->{token}, qr{/}, 'token has a /');
is_deeply($a->{element}, { id => 16, key => 'pipedrive',
    name => 'Pipedrive Beta', hub => 'crm',
    authentication => { type => 'custom' } }, 'element object');
is($a->{elementId}, 16, 'elementId');
is_deeply($a->{tags}, ['crm'], 'created without tags: tagged with its name');
ok($a->{valid} && !$a->{disabled} && !$a->{cachingEnabled},
    'valid, not disabled, no caching');
ok(exists $a->{eventsEnabled} && !$a->{eventsEnabled}, 'eventsEnabled false');
like($a->{createdDate}, qr/^\d{4}-\d\d-\d\dT/, 'createdDate');
ok($a->{user}{id} && $a->{user}{emailAddress}, 'user');
ok(!exists $a->{providerData}, 'no providerData');

my $c = $a->{configuration};
is($c->{'pipedrive.password'}, '********', 'password masked');
is($c->{'pipedrive.api.token'}, '********', 'api token masked');
is($c->{'pipedrive.email'}, 'me@example.com', 'email shown');
is($c->{'base.url'}, 'https://api.pipedrive.com/v1', 'default base.url');
is($c->{'pagination.offset'}, 'true', 'default pagination.offset');
is($c->{'pagination.max'}, '100', 'default pagination.max');
is($c->{'event.vendor.type'}, 'webhook', 'default event.vendor.type');
is($c->{'event.notification.enabled'}, 'false',
    'default event.notification.enabled');
is($c->{'filter.response.nulls'}, 'false', 'given value beats the default');
unlike($r->{content}, qr/pd-secret|tok-secret/, 'no secret in the body');

my ($real) = grep { $_->{id} == 1 } @{ $sim->instances };
is($real->{configuration}{'pipedrive.password'}, 'pd-secret',
    'control view is unmasked');
is($real->{token}, $a->{token}, 'control view has the real token');

$r = $sim->api(POST => '/instances', ep_body(name => 'crm', tags => ['x']));
is($r->{status}, 200, 'same name again is accepted');
my $b = $r->{json};
is($b->{id}, 2, 'duplicate name gets a new id');
isnt($b->{token}, $a->{token}, 'and a new token');
is_deeply($b->{tags}, ['x'], 'given tags kept');

my $body = ep_body(name => 'by-path');
delete $body->{element};
$r = $sim->api(POST => '/elements/pipedrive/instances', $body);
is($r->{status}, 200, 'POST /elements/{key}/instances');
is($r->{json}{element}{key}, 'pipedrive', 'element from the path');
my $c3 = $r->{json};

$r = $sim->api(POST => '/instances',
    { element => { key => 'pipedrive' }, name => 'tok',
      configuration => { 'authentication.type' => 'accessToken',
                         'pipedrive.api.token' => 'abc' } });
is($r->{status}, 200, 'accessToken instance');
is($r->{json}{configuration}{'pipedrive.api.token'}, '********',
    'accessToken masked');

$r = $sim->api(POST => '/instances',
    { element => { key => 'pipedrive' }, name => 'noauth',
      configuration => { 'pipedrive.email' => 'e', 'pipedrive.password' => 'p' } });
is($r->{status}, 200, 'missing authentication.type means emailPassword');

# ---- create errors ------------------------------------------------------------

sub error_ok {
    my ($r, $status, $msg_re, $name) = @_;
    is($r->{status}, $status, "$name: status $status");
    like($r->{headers}{'content-type'}, qr{^application/json}, "$name: json");
    ok(ref $r->{json} eq 'HASH' && $r->{json}{requestId}, "$name: requestId");
    like($r->{json}{message} // '', $msg_re, "$name: message");
}

$r = $sim->api(POST => '/instances',
    { element => { key => 'pipedrive' }, name => 'x', configuration => {} });
error_ok($r, 400,
    qr/^Missing required configuration: pipedrive\.email, pipedrive\.password$/,
    'emailPassword keys missing');

$r = $sim->api(POST => '/instances',
    { element => { key => 'pipedrive' }, name => 'x',
      configuration => { 'authentication.type' => 'accessToken' } });
error_ok($r, 400, qr/pipedrive\.api\.token/, 'accessToken key missing');

$r = $sim->api(POST => '/instances',
    { element => { key => 'pipedrive' }, name => 'x',
      configuration => { 'authentication.type' => 'oauth2',
                         'oauth.api.key' => 'k' } });
error_ok($r, 400, qr/oauth\.api\.secret, oauth\.callback\.url/,
    'oauth2 keys missing');

$r = $sim->api(POST => '/instances',
    ep_body(config => { 'authentication.type' => 'basic' }));
error_ok($r, 400, qr/authentication\.type/, 'unknown auth type');

$r = $sim->api(POST => '/instances',
    { %{ ep_body() }, element => { key => 'salesforce' } });
error_ok($r, 404, qr/salesforce/, 'unknown element');

$r = $sim->api(POST => '/elements/hubspot/instances', ep_body());
error_ok($r, 404, qr/hubspot/, 'unknown element in the path');

$r = $sim->api(POST => '/instances', '{"name": ', raw => 1);
error_ok($r, 400, qr/JSON/, 'invalid JSON body');

# ---- get, list --------------------------------------------------------------

$r = $sim->api(GET => '/instances/2');
is($r->{status}, 200, 'GET /instances/{id}');
is($r->{json}{token}, $b->{token}, 'same token');
is($r->{json}{configuration}{'pipedrive.password'}, '********', 'masked');

error_ok($sim->api(GET => '/instances/999'), 404, qr/999/, 'unknown id');

$r = $sim->api(GET => '/instances');
is_deeply([ map { $_->{id} } @{ $r->{json} } ], [1 .. 5], 'list by id');
ok(!grep({ $_->{token} eq '' } @{ $r->{json} }), 'list has tokens');
ok(!grep({ ($_->{configuration}{'pipedrive.password'} // '********')
           ne '********' } @{ $r->{json} }), 'list masks secrets');

$r = $sim->api(GET => '/elements/pipedrive/instances?hydrate=false');
is(scalar @{ $r->{json} }, 5, 'GET /elements/{key}/instances');

# ---- update -------------------------------------------------------------------

$r = $sim->api(PATCH => '/instances/2',
    { tags => ['t1', 't2'], configuration => { 'pipedrive.email' => 'new@x' } });
is($r->{status}, 200, 'PATCH');
is_deeply($r->{json}{tags}, ['t1', 't2'], 'PATCH replaces tags');
is($r->{json}{configuration}{'pipedrive.email'}, 'new@x', 'PATCH sets a key');
is($r->{json}{configuration}{'pipedrive.password'}, '********',
    'PATCH keeps (masked) other keys');
is($r->{json}{name}, 'crm', 'PATCH keeps the name');
is($r->{json}{token}, $b->{token}, 'PATCH keeps the token');
ok(!exists $r->{json}{providerData}, 'PATCH answer has no providerData');

$r = $sim->api(PUT => '/instances/2',
    { name => 'renamed', tags => ['p'],
      configuration => { 'pipedrive.email' => 'put@x',
                         'pipedrive.password' => 'pw2' } });
is($r->{status}, 200, 'PUT');
is($r->{json}{name}, 'renamed', 'PUT renames');
is_deeply($r->{json}{tags}, ['p'], 'PUT replaces tags');
is($r->{json}{configuration}{'filter.response.nulls'}, 'true',
    'PUT merges defaults');
is($r->{json}{configuration}{'pipedrive.password'}, '********', 'PUT masks');
($real) = grep { $_->{id} == 2 } @{ $sim->instances };
is($real->{configuration}{'pipedrive.password'}, 'pw2', 'PUT stored the value');

$r = $sim->api(PUT => '/instances/2', { configuration => {} });
error_ok($r, 400, qr/pipedrive\.email, pipedrive\.password/,
    'PUT replaces the configuration and checks it');
error_ok($sim->api(PATCH => '/instances/999', { name => 'x' }), 404, qr//,
    'PATCH unknown id');

# ---- enable, disable, delete ----------------------------------------------------

my $hub = sub { $sim->api(GET => '/hubs/crm/ping', undef, element => $_[0]) };
is($hub->($c3->{token})->{status}, 200, 'hub call works before disabling');

$r = $sim->api(DELETE => '/instances/3/enabled');
is($r->{status}, 200, 'DELETE /instances/{id}/enabled');
is($r->{json}{disabled}, JSON::PP::true, 'shows disabled');
is($sim->api(GET => '/instances/3')->{json}{disabled}, JSON::PP::true,
    'GET shows disabled');
$r = $hub->($c3->{token});
error_ok($r, 403, qr/^Instance is disabled$/, 'disabled instance hub call');
is($r->{headers}{'elements-element-instance-id'}, 3, '403 names the instance');

$r = $sim->api(PUT => '/instances/3/enabled');
is($r->{status}, 200, 'PUT /instances/{id}/enabled');
is($r->{json}{disabled}, JSON::PP::false, 'shows enabled');
is($hub->($c3->{token})->{status}, 200, 'hub call works again');

$r = $sim->api(DELETE => '/instances/3');
is($r->{status}, 200, 'DELETE answers 200');
is_deeply($r->{json}, {}, 'DELETE answers {}');
error_ok($hub->($c3->{token}), 401, qr//, 'deleted token');
error_ok($sim->api(GET => '/instances/3'), 404, qr//, 'deleted is gone');
error_ok($sim->api(DELETE => '/instances/3'), 404, qr//, 'second DELETE');
is_deeply([ map { $_->{id} } @{ $sim->api(GET => '/instances')->{json} } ],
    [1, 2, 4, 5], 'deleted not listed');
my ($gone) = grep { $_->{id} == 3 } @{ $sim->instances };
ok($gone->{deleted}, 'control view flags deleted');

$r = $sim->api(POST => '/instances', ep_body(name => 'after'));
is($r->{json}{id}, 6, 'ids are never reused');

error_ok($sim->api(POST => '/instances/6'), 405, qr//, 'wrong method');
error_ok($sim->api(GET => '/nothing/here'), 404, qr//, 'unknown API path');
error_ok($sim->request(GET => '/'), 404, qr//, 'path outside the API');

# ---- counts -----------------------------------------------------------------------

is($sim->count('POST /instances'), 11, 'POST /instances counted');
is($sim->count('POST /elements/{key}/instances'), 2,
    'POST /elements/{key}/instances counted');
is($sim->count('PATCH /instances/{id}'), 2, 'PATCH counted');
is($sim->count('PUT /instances/{id}/enabled'), 1, 'enable counted');
is($sim->count('DELETE /instances/{id}/enabled'), 1, 'disable counted');
is($sim->count('GET /nothing'), 0, 'absent endpoint counts 0');
is($sim->count('GET other'), 2, 'unknown paths count as other');

done_testing;
