#!/usr/bin/perl

# OAuth2 families: each tenant consents on its own, the state binds the
# tenant (forged, swapped, replayed states are refused with no call), the
# callback creates or re-authorizes the tenant's one instance, each
# upstream request carries its own tenant's token, oc_connect answers POST
# with 400, and no code or token reaches the debug log.

use strict;
use warnings;

BEGIN { $ENV{OC_TEST_LOG_LEVEL} = 'debug' }

use Test::More;
use Time::HiRes qw(time sleep);
use IO::Select;
use IO::Socket::INET;
use lib 't/lib';
use OCTest;
use JSON::PP;

my $LIST = 'GET /elements/{key}/instances';

sub conf {
    my (%o) = @_;
    my $block = $o{block} // '';
    my $locs = $o{locations} // <<'EOF';
        location = /oauth/start {
            oc_oauth_start  crm;
        }

        location = /oauth/callback {
            oc_oauth_callback  crm;
        }
EOF
    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 2;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    oc_api_timeout          2s;
    oc_wait_timeout         5s;

    oc_instance crm {
        element  pipedrive;
        auth     oauth2;
        tenant   \$tenant;
        name     acme-crm-\$tenant;
        tags     customer:\$tenant;
        config   oauth.api.key       pd-app-key;
        config   oauth.api.secret    pd-app-secret;
        config   oauth.callback.url  http://127.0.0.1:%%PORT_8080%%/oauth/callback;
        oc_tenant_absent_ttl 1s;
$block
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        # tests only: the tenant from a header; see docs/tenants.md
        set \$tenant \$http_x_tenant;

        location /crm/ {
            oc_pass     crm;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /connect {
            oc_connect  crm;
        }

$locs
    }
}
EOF
}

my $t = OCTest->new;
my $sim = $t->sim;
my (@codes, %seen_code);

sub get_as {
    my ($tenant) = @_;
    return http_get('/crm/contacts', headers => "X-Tenant: $tenant");
}

sub json_of {
    my ($r) = @_;
    return eval { decode_json(OCTest::http_body($r)) } // {};
}

# Open Connectors calls, not the consent page, not the hub
sub platform_calls {
    return scalar grep { $_->{endpoint} !~ m{^GET (/consent|/hubs/)} }
                  @{ $sim->calls };
}

# the consent URL oc_oauth_start gives the tenant, not followed
sub start_as {
    my ($tenant) = @_;
    my $r = http_get('/oauth/start', headers => "X-Tenant: $tenant");
    my ($url) = $r =~ /^Location: (\S+)\r?$/mi;
    return ($r, $url);
}

sub state_of { return ($_[0] =~ /[?&]state=([^&]+)/)[0] }

# the provider's redirect back after $account allowed: the callback path
sub consent {
    my ($tenant, $account) = @_;
    my (undef, $url) = start_as($tenant);
    my $res = $sim->request(GET => "$url&account=$account");
    my $cb = $res->{headers}{location} // '';
    $cb =~ s{^https?://[^/]+}{};
    push @codes, $1 if $cb =~ /[?&]code=([^&]+)/;
    return $cb;
}

sub live {
    my ($name) = @_;
    return grep { !$_->{deleted} && $_->{name} eq $name } @{ $sim->instances };
}

# the Element token of each hub call, in order
sub hub_tokens {
    return map { ($_->{authorization} // '') =~ /Element (\S+)/ ? $1 : '-' }
           grep { $_->{path} =~ m{/hubs/} } @{ $sim->calls };
}

# GET requests sent at once, each on its own connection
sub parallel {
    my (@paths) = @_;
    my (@socks, %buf);
    local $SIG{PIPE} = 'IGNORE';
    for my $p (@paths) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => OCTest::port(8080),
                                      Proto => 'tcp') or next;
        syswrite($s, "GET $p HTTP/1.0\r\nHost: localhost\r\n\r\n");
        push @socks, $s;
        $buf{"$s"} = '';
    }
    my $sel = IO::Select->new(@socks);
    my $end = time + 15;
    while ($sel->count && time < $end) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread($s, $buf{"$s"}, 65536, length $buf{"$s"});
            if (!$n) {
                $sel->remove($s);
                close $s;
            }
        }
    }
    return map { $buf{"$_"} } @socks;
}

# ---- nginx -t ---------------------------------------------------------------

{
    my $c = OCTest->new;
    $c->write_conf(conf(locations => ''));
    my ($rc, $out) = $c->test_config;
    like($out, qr/\[warn\].*"auth oauth2" but no oc_oauth_start location/,
         'nginx -t: an oauth2 family without oc_oauth_start warns');
    is($rc, 0, 'nginx -t: the warning alone passes');

    my $conf = conf();
    $conf =~ s/^\s*config   oauth\.api\.secret .*\n//m;
    $c->write_conf($conf);
    ($rc, $out) = $c->test_config;
    like($out, qr/\[emerg\].*\(auth oauth2, tenant\) is missing config oauth/,
         'nginx -t: the app keys needed');
    isnt($rc, 0, 'nginx -t: fails without them');

    $conf = conf();
    $conf =~ s/auth     oauth2;/auth     accessToken;/;
    $c->write_conf($conf);
    ($rc, $out) = $c->test_config;
    like($out, qr/\[emerg\].*oc_oauth_start and oc_oauth_callback need an /,
         'nginx -t: oc_oauth_start on an accessToken family');
    isnt($rc, 0, 'nginx -t: fails for it');
}

$t->write_conf(conf());
my ($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t: oc_oauth_start and oc_oauth_callback on a family')
    or diag($out);
$t->run;
$sim->consent('allow');

# ---- before consent, bad tenants ----------------------------------------

{
    $sim->reset;
    my $r = get_as('acme');
    like($r, qr/ 409 /, 'before: not connected');
    is(json_of($r)->{error}, 'not connected', 'before: says so');
    is(json_of($r)->{authorize}, '/oauth/start',
       'before: says where the customer consents');
    is($sim->count('POST /instances'), 0, 'before: nothing created');

    $sim->reset;
    for my $bad ('', 'a/b', 'a%20b', 'x' x 129) {
        my $r = http_get('/oauth/start', headers => "X-Tenant: $bad");
        like($r, qr/^HTTP\/1\.1 400 /, "bad tenant \"$bad\": 400");
    }
    is(scalar @{ $sim->calls }, 0, 'bad tenant: no call at all');
}

# ---- two tenants consent, each request with its own token -----------------

my (%id, %token);

{
    $sim->reset;

    my ($r, $url) = start_as('acme');
    like($r, qr/^HTTP\/1\.1 302 /, 'start: 302');
    like(state_of($url), qr/^[0-9a-f]{32}\.acme$/,
         'start: the state holds a nonce and the tenant');
    my ($call) = grep { $_->{endpoint} eq 'GET /elements/{key}/oauth/url' }
                 @{ $sim->calls };
    like($call->{query}, qr/apiKey=pd-app-key/, 'start: the shared app key');

    for my $tenant (qw(acme globex)) {
        my $cb = consent($tenant, "pd-$tenant");
        like($cb, qr{^/oauth/callback\?code=}, "$tenant: back to callback");
        my $r = http_get($cb);
        like($r, qr/^HTTP\/1\.1 200 /, "$tenant: callback 200");
        like($r, qr{Instance &quot;crm/$tenant&quot; \(Open Connectors id},
             "$tenant: the page names the tenant");

        my @inst = live("acme-crm-$tenant");
        is(scalar @inst, 1, "$tenant: one instance");
        ok((grep { $_ eq "customer:$tenant" } @{ $inst[0]{tags} }),
           "$tenant: tagged with the evaluated first tag");
        is($inst[0]{oauth_account}, "pd-$tenant",
           "$tenant: authorized by its own Pipedrive account");
        unlike($r, qr/\Q$inst[0]{token}\E/, "$tenant: no token on the page");
        $id{$tenant} = $inst[0]{id};
        $token{$tenant} = $inst[0]{token};
    }

    is($sim->count('POST /instances'), 2, 'consent: two POST /instances');
    is($sim->count('GET /elements/{key}/oauth/url'), 3, 'consent: 3 urls');
    my @posts = grep { $_->{endpoint} eq 'POST /instances' } @{ $sim->calls };
    my $body = decode_json($posts[0]{body});
    ok($body->{providerData}{code}, 'consent: the code exchanged');
    is($body->{configuration}{'oauth.api.key'}, 'pd-app-key',
       'consent: with the shared config');
    is($body->{configuration}{'authentication.type'}, 'oauth2',
       'consent: auth type');

    $sim->reset;
    my %ok;
    for my $i (1 .. 10) {
        my $tenant = $i % 2 ? 'acme' : 'globex';
        $ok{$tenant}++ if get_as($tenant) =~ / 200 /;
    }
    is($ok{acme}, 5, 'served: acme 5 times');
    is($ok{globex}, 5, 'served: globex 5 times');
    my %n;
    $n{$_}++ for hub_tokens();
    is($n{ $token{acme} }, 5, 'upstream: acme\'s token 5 times');
    is($n{ $token{globex} }, 5, 'upstream: globex\'s token 5 times');
    is(scalar keys %n, 2, 'upstream: no other token');
}

# ---- the tenant comes from the state ----------------------------------------

{
    # acme's consent brought back in globex's session: refused, no call
    my $cb = consent('acme', 'pd-acme');
    $sim->reset;
    my $r = http_get($cb, headers => 'X-Tenant: globex');
    like($r, qr/^HTTP\/1\.1 403 /, 'swapped session: 403');
    like($r, qr/started for another account/, 'swapped session: says so');
    is(platform_calls(), 0, 'swapped session: no call');
    ok($t->grep_log(qr/\[warn\].*consent of tenant "acme" of "crm" came /
                    . qr/back in a request of another tenant/),
       'swapped session: logged');

    # and the state is spent
    $r = http_get($cb, headers => 'X-Tenant: acme');
    like($r, qr/^HTTP\/1\.1 400 /, 'swapped session: the state is spent');
    is(platform_calls(), 0, 'swapped session: still no call');

    # a second consent of acme, back without any session: acme's instance
    # re-authorized, no duplicate
    $cb = consent('acme', 'pd-acme');
    $sim->reset;
    $r = http_get($cb);
    like($r, qr/^HTTP\/1\.1 200 /, 'again: 200');
    is($sim->count('POST /instances'), 0, 'again: no POST');
    is($sim->count('PATCH /instances/{id}'), 1, 'again: one PATCH');
    my ($patch) = grep { $_->{endpoint} eq 'PATCH /instances/{id}' }
                  @{ $sim->calls };
    is($patch->{path}, "/elements/api-v2/instances/$id{acme}",
       'again: acme\'s instance');
    ok(decode_json($patch->{body})->{providerData}{code},
       'again: with the code');
    is(scalar live('acme-crm-acme'), 1, 'again: still one acme instance');
    is(scalar live('acme-crm-globex'), 1, 'again: globex untouched');

    like(get_as('acme'), qr/ 200 /, 'again: acme served');
    like(get_as('globex'), qr/ 200 /, 'again: globex served');

    # replayed
    $sim->reset;
    like(http_get($cb), qr/^HTTP\/1\.1 400 /, 'replayed state: 400');
    is(platform_calls(), 0, 'replayed state: no call');
}

# ---- forged states ---------------------------------------------------------

{
    my (undef, $url) = start_as('globex');
    my $state = state_of($url);
    my ($nonce) = $state =~ /^([0-9a-f]{32})\./;
    $sim->reset;

    my @bad = (
        ['tenant swapped', "$nonce.acme"],
        ['tenant swapped, escaped', "$nonce%2Eacme"],
        ['made up', ('5' x 32) . '.globex'],
        ['nonce alone', $nonce],
        ['no nonce', '.globex'],
        ['another family\'s form', $nonce . 'globex'],
        ['invalid tenant', "$nonce.a%2Fb"],
        ['long', "$nonce." . ('x' x 300)],
    );

    for my $b (@bad) {
        my $code = $sim->new_code('pd-globex');
        my $r = http_get("/oauth/callback?code=$code&state=$b->[1]");
        like($r, qr/^HTTP\/1\.1 400 /, "forged state, $b->[0]: 400");
    }
    is(platform_calls(), 0, 'forged states: no call');
    ok($t->grep_log(qr/\[warn\].*oc_oauth_callback: missing, unknown/),
       'forged states: logged');

    # the genuine one still works after all that
    my $code = $sim->new_code('pd-globex');
    push @codes, $code;
    like(http_get("/oauth/callback?code=$code&state=$state"), qr/ 200 /,
         'forged states: the genuine one works');
    is(scalar live('acme-crm-globex'), 1, 'forged states: one globex');
}

# ---- single flight: three consents of a new tenant at once ----------------

{
    my @cb = map { consent('initech', 'pd-initech') } 1 .. 3;
    $sim->reset;
    my @r = parallel(@cb);
    my $ok = grep { /^HTTP\/1\.1 200 / } @r;
    is($ok, 3, 'three at once: each authorized');
    is(scalar live('acme-crm-initech'), 1, 'three at once: one instance');
    is($sim->count('POST /instances'), 1, 'three at once: one created');
    is($sim->count('PATCH /instances/{id}'), 2,
       'three at once: then re-authorized twice, one after the other');
    my ($inst) = live('acme-crm-initech');
    $sim->reset;
    like(get_as('initech'), qr/ 200 /, 'three at once: served');
    is((hub_tokens())[-1], $inst->{token}, 'three at once: its token');
}

# ---- one Pipedrive account for two tenants: the first loses its token -----

{
    my $cb = consent('hooli', 'pd-globex');
    like(http_get($cb), qr/ 200 /, 'same account: hooli authorized');
    $sim->reset;
    like(get_as('globex'), qr/ 401 /, 'same account: globex 401 once');
    my $r;
    my $end = time + 5;
    do { $r = get_as('globex'); sleep 0.05 }
        until $r =~ / 503 / || time > $end;
    like($r, qr/ 503 /, 'same account: then 503');
    like(json_of($r)->{reason} // '', qr/re-authorization needed/,
         'same account: the reason');
    is(json_of($r)->{authorize}, '/oauth/start',
       'same account: where to consent');
    is($sim->count('POST /instances'), 0, 'same account: no automatic POST');
    like(get_as('hooli'), qr/ 200 /, 'same account: hooli served');
    like(get_as('acme'), qr/ 200 /, 'same account: acme untouched');
}

# ---- consent denied ---------------------------------------------------------

{
    $sim->consent('deny');
    my (undef, $url) = start_as('acme');
    my $res = $sim->request(GET => "$url&account=pd-acme");
    (my $cb = $res->{headers}{location} // '') =~ s{^https?://[^/]+}{};
    $sim->reset;
    my $r = http_get($cb);
    like($r, qr/^HTTP\/1\.1 403 /, 'denied: 403');
    is(platform_calls(), 0, 'denied: no call');
    like(get_as('acme'), qr/ 200 /, 'denied: acme keeps its token');
    $sim->consent('allow');
}

# ---- oc_connect on an oauth2 family -------------------------------------------

{
    $sim->reset;
    my $r = OCTest::http(OCTest::_request(POST => '/connect',
                         '{"oauth.api.key":"x"}', headers => 'X-Tenant: acme'));
    like($r, qr/^HTTP\/1\.1 400 /, 'connect POST: 400');
    like(json_of($r)->{error} // '', qr/oc_oauth_start/,
         'connect POST: says to consent');
    is(json_of($r)->{authorize}, '/oauth/start', 'connect POST: where');
    is(scalar @{ $sim->calls }, 0, 'connect POST: no call');
    $r = OCTest::http(OCTest::_request(GET => '/connect', undef,
                                       headers => 'X-Tenant: a/b'));
    like($r, qr/^HTTP\/1\.1 400 /, 'connect: bad tenant 400');

    $r = OCTest::http(OCTest::_request(GET => '/connect', undef,
                                       headers => 'X-Tenant: acme'));
    like($r, qr/ 200 /, 'connect GET: 200');
    is(json_of($r)->{state}, 'ready', 'connect GET: ready');
    is(json_of($r)->{id}, $id{acme}, 'connect GET: acme\'s id');

    $r = OCTest::http(OCTest::_request(DELETE => '/connect', undef,
                                       headers => 'X-Tenant: hooli'));
    like($r, qr/ 200 /, 'connect DELETE: 200');
    is(scalar live('acme-crm-hooli'), 0, 'connect DELETE: deleted');
    like(get_as('hooli'), qr/ 409 /, 'connect DELETE: then not connected');
}

# ---- secrets never in the log -----------------------------------------------

{
    my $log = $t->error_log;
    like($log, qr/\[debug\]/, 'log: at debug level');
    my @tokens = map { $_->{token} } @{ $sim->instances };
    ok(@codes >= 8, 'log: codes collected');

    # nginx's own traces, written before any module runs and of the
    # proxied request: the debug log exception of docs/security.md
    my $n = ($log =~ s/^.*\[debug\].* http (?:request line|args): .*\n//mg);
    ok($n, 'log: nginx\'s request line traces taken out');
    $n = ($log =~ s/\[debug\].* http proxy header:(?: "Authorization:.*|\n"[^"]*")\n//mg);
    ok($n, 'log: nginx\'s proxy header traces taken out');

    is(scalar(grep { index($log, $_) >= 0 } @codes), 0, 'log: no code');
    is(scalar(grep { index($log, $_) >= 0 } @tokens), 0, 'log: no token');
    unlike($log, qr/pd-app-secret/, 'log: no app secret');

    my $access = $t->read_file('access.log');
    like($access, qr{GET /oauth/callback HTTP}, 'access log: the callback');
    is(scalar(grep { index($access, $_) >= 0 } @codes), 0,
       'access log: no code');
}

$t->stop;

done_testing;
