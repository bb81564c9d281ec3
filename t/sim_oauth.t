# Simulator: OAuth URL, consent page and redirects, codes, one-token rule.

use strict;
use warnings;

use Test::More;
use OCSim;

my $sim = OCSim->start;
my $cb = $sim->base_url . '/_sim/health';    # any URL will do as the callback

sub query_of {
    my ($url) = @_;
    my ($q) = $url =~ /\?(.*)$/ or return {};
    my %h;
    for (split /&/, $q) {
        my ($k, $v) = map { my $s = $_ // ''; $s =~ tr/+/ /;
                            $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge; $s }
                      split /=/, $_, 2;
        $h{$k} = $v;
    }
    return \%h;
}

# ---- /elements/{key}/oauth/url ---------------------------------------------------

my $r = $sim->api(GET => '/elements/pipedrive/oauth/url?apiKey=app-1'
    . '&apiSecret=s3cret&callbackUrl=' . "$cb%3Fx%3D1" . '&state=st%26ate');
is($r->{status}, 200, 'oauth url');
is($r->{json}{element}, 'pipedrive', 'element key');
my $url = $r->{json}{oauthUrl};
like($url, qr{^\Q${\ $sim->base_url}\E/_sim/consent\?}, 'points at the consent page');
is_deeply(query_of($url), { client_id => 'app-1', redirect_uri => "$cb?x=1",
    state => 'st&ate' }, 'carries client_id, redirect_uri and state');
unlike($url, qr/s3cret/, 'never carries the api secret');

$r = $sim->api(GET => '/elements/pipedrive/oauth/url?apiKey=k');
is($r->{status}, 400, 'missing apiSecret and callbackUrl: 400');
like($r->{json}{message}, qr/apiSecret, callbackUrl/, 'names what is missing');
is($sim->api(GET => '/elements/nope/oauth/url?apiKey=k&apiSecret=s'
    . '&callbackUrl=x')->{status}, 404, 'unknown element: 404');
is($sim->count('GET /elements/{key}/oauth/url'), 3, 'oauth url counted');

# ---- consent page --------------------------------------------------------------------

$r = $sim->request(GET => $url);
is($r->{status}, 200, 'consent page');
like($r->{headers}{'content-type'}, qr{^text/html}, 'is HTML');
my ($allow) = $r->{content} =~ /<a id="allow" href="([^"]+)"/;
my ($deny) = $r->{content} =~ /<a id="deny" href="([^"]+)"/;
ok($allow && $deny, 'has #allow and #deny links');
s/&amp;/&/g for $allow, $deny;

$r = $sim->request(GET => $allow);
is($r->{status}, 302, 'allow redirects');
my $loc = $r->{headers}{location};
like($loc, qr{^\Q$cb\E\?x=1&}, 'to the callback, keeping its query');
my $q = query_of($loc);
ok(length $q->{code} >= 16, 'with a code');
is($q->{state}, 'st&ate', 'with the state');
my $code1 = $q->{code};

$r = $sim->request(GET => $deny);
is($r->{status}, 302, 'deny redirects');
$q = query_of($r->{headers}{location});
is($q->{error}, 'access_denied', 'with error=access_denied');
is($q->{state}, 'st&ate', 'and the state');
ok(!exists $q->{code}, 'and no code');

$r = $sim->request(GET => $allow, max_redirect => 5);
is($r->{status}, 200, 'a redirect-following client lands on the callback');
like($r->{url}, qr/[?&]code=/, 'with a code in the final URL');

is($sim->request(GET => '/_sim/consent?client_id=x')->{status}, 400,
    'consent without redirect_uri: 400');

$sim->consent('allow');
$r = $sim->request(GET => $url);
is($r->{status}, 302, 'auto allow: the page itself redirects');
like($r->{headers}{location}, qr/[?&]code=/, '... with a code');
$r = $sim->request(GET => $url, max_redirect => 5);
is($r->{status}, 200, 'auto allow completes for a following client');
$sim->consent('deny');
$r = $sim->request(GET => $url);
like($r->{headers}{location}, qr/error=access_denied/, 'auto deny');
$sim->consent(undef);
is($sim->request(GET => $url)->{status}, 200, 'auto off: the page again');

my $counts = $sim->counts;
is($counts->{'GET /consent'}, 6, 'consent page counted');
is($counts->{'GET /consent/allow'}, 2, 'allow counted');
is($counts->{'GET /consent/deny'}, 1, 'deny counted');

# ---- instances with codes --------------------------------------------------------------

sub oauth_body {
    my ($key, $code, %o) = @_;
    return { element => { key => 'pipedrive' }, name => $o{name} // "oa-$key",
             configuration => { 'authentication.type' => 'oauth2',
                 'oauth.api.key' => $key, 'oauth.api.secret' => 'sec',
                 'oauth.callback.url' => $cb },
             (defined $code ? (providerData => { code => $code }) : ()) };
}

$r = $sim->api(POST => '/instances', oauth_body('app-1', undef));
is($r->{status}, 400, 'oauth2 without a code: 400');
like($r->{json}{message}, qr/providerData\.code/, 'names providerData.code');
is($sim->api(POST => '/instances', oauth_body('app-1', 'made-up'))->{status},
    400, 'unknown code: 400');

$r = $sim->api(POST => '/instances', oauth_body('app-1', $code1));
is($r->{status}, 200, 'create with a consent code');
my $a = $r->{json};
is($a->{configuration}{'oauth.api.key'}, '********', 'api key masked');
is($a->{configuration}{'oauth.api.secret'}, '********', 'api secret masked');
is($a->{configuration}{'oauth.callback.url'}, $cb, 'callback url shown');
ok(!exists $a->{providerData}, 'no providerData in the answer');
unlike($r->{content}, qr/\Q$code1\E/, 'the code is not echoed');

is($sim->api(POST => '/instances', oauth_body('app-1', $code1))->{status}, 400,
    'a used code is refused');

sub hub_status { $sim->api(GET => '/hubs/crm/ping', undef, element => $_[0])->{status} }

is(hub_status($a->{token}), 200, 'first instance works');

my $b = $sim->api(POST => '/instances',
    oauth_body('app-1', $sim->new_code, name => 'second'))->{json};
ok($b->{id}, 'second instance of the same app');
is(hub_status($b->{token}), 200, 'second instance works');
is(hub_status($a->{token}), 401, 'one-token rule: the first now gets 401');
my %flags = map { $_->{id} => $_->{oauth_dead} } @{ $sim->instances };
ok($flags{ $a->{id} } && !$flags{ $b->{id} }, 'control view flags oauth_dead');

my $other = $sim->api(POST => '/instances',
    oauth_body('app-2', $sim->new_code))->{json};
is(hub_status($other->{token}), 200, 'another app is independent');
is(hub_status($b->{token}), 200, '... and kills nobody');

# re-authorize the first by PUT: it lives, the second dies
$r = $sim->api(PUT => "/instances/$a->{id}",
    { %{ oauth_body('app-1', $sim->new_code) }, name => $a->{name} });
is($r->{status}, 200, 'PUT with providerData.code');
is($r->{json}{id}, $a->{id}, 're-authorization keeps the id');
is($r->{json}{token}, $a->{token}, 're-authorization keeps the token');
ok(!exists $r->{json}{providerData}, 'no providerData in the PUT answer');
is(hub_status($a->{token}), 200, 're-authorized instance works');
is(hub_status($b->{token}), 401, 'the other one is now dead');

# and back by PATCH
$r = $sim->api(PATCH => "/instances/$b->{id}",
    { providerData => { code => $sim->new_code } });
is($r->{status}, 200, 'PATCH with providerData.code');
is(hub_status($b->{token}), 200, 'PATCH re-authorized');
is(hub_status($a->{token}), 401, 'and the first is dead again');

is($sim->api(PATCH => "/instances/$b->{id}",
    { providerData => { code => 'nope' } })->{status}, 400,
    're-authorization with a bad code: 400');
is(hub_status($b->{token}), 200, 'a failed re-authorization changes nothing');

my $ep = $sim->api(POST => '/instances', { element => { key => 'pipedrive' },
    name => 'ep', configuration => { 'pipedrive.email' => 'e',
    'pipedrive.password' => 'p' } })->{json};
is($sim->api(PATCH => "/instances/$ep->{id}",
    { providerData => { code => $sim->new_code } })->{status}, 400,
    'providerData.code on a non-oauth2 instance: 400');

$sim->delete_instance($b->{id});
$r = $sim->api(POST => '/instances', oauth_body('app-1', $sim->new_code));
is(hub_status($r->{json}{token}), 200, 'new instance after delete works');

# seeding follows the rule too (seed needs no code)
my $s1 = $sim->seed_instance(name => 's1', auth => 'oauth2',
    config => { 'oauth.api.key' => 'app-3' });
my $s2 = $sim->seed_instance(name => 's2', auth => 'oauth2',
    config => { 'oauth.api.key' => 'app-3' });
is(hub_status($s1->{token}), 401, 'seeded: the earlier one is dead');
is(hub_status($s2->{token}), 200, 'seeded: the later one works');
my $s3 = $sim->seed_instance(name => 's3', auth => 'oauth2', oauth_dead => 1,
    config => { 'oauth.api.key' => 'app-4' });
ok($s3->{oauth_dead}, 'seed can start dead');
is(hub_status($s3->{token}), 401, '... and answers 401');

done_testing;
