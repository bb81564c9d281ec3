#!/usr/bin/perl

# Families (tenant $var): one instance per tenant, looked up by its first
# tag, each upstream request with its own tenant's token; bad values,
# tenants that are not connected, single flight, eviction, nginx -t.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use lib 't/lib';
use OCTest qw(:DEFAULT port);
use JSON::PP;
use IO::Socket::INET;
use IO::Select;

my $LIST = 'GET /elements/{key}/instances';

sub family_conf {
    my (%o) = @_;
    my $block = $o{block} // '';
    my $workers = $o{workers} // 2;
    my $locs = $o{locations} // '';
    my $top = $o{top} // '';
    my $wait = 3 * $OCTest::SLOW;      # seconds: valgrind is slower
    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes $workers;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    oc_api_timeout          2s;
    oc_wait_timeout         ${wait}s;
$top
    oc_instance crm {
        element  pipedrive;
        auth     accessToken;
        tenant   \$tenant;
        name     acme-crm-\$tenant;
        tags     customer:\$tenant;
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

        location /status {
            oc_status;
        }
$locs
    }
}
EOF
}

sub get_as {
    my ($tenant, $uri) = @_;
    return http_get($uri // '/crm/contacts',
                    headers => "X-Tenant: $tenant");
}

# tag searches per tenant value
sub searches {
    my ($sim) = @_;
    my %n;
    for my $c (grep { $_->{endpoint} eq $LIST } @{ $sim->calls }) {
        $n{$1}++ if ($c->{query} // '') =~ /tags%5B%5D=customer%3A([^&]+)/;
    }
    return \%n;
}

# the Element tokens the hub saw, in order
sub hub_tokens {
    my ($sim) = @_;
    return map { ($_->{authorization} // '') =~ /Element (\S+)/ ? $1 : '-' }
           grep { $_->{path} =~ m{/hubs/} } @{ $sim->calls };
}

sub seed {
    my ($sim, $tenant, %o) = @_;
    return $sim->seed_instance(name => "acme-crm-$tenant",
                               auth => 'accessToken',
                               config => { 'pipedrive.api.token'
                                           => "pd-$tenant" },
                               tags => ["customer:$tenant"], %o);
}

sub family {
    my ($uri) = @_;
    my $st = decode_json(OCTest::http_body(get_as('x', $uri
                                           // '/status?format=json')));
    return $st->{instances}{crm} // {};
}

# ---- nginx -t ---------------------------------------------------------------

sub conf_error {
    my ($conf) = @_;
    my $t = OCTest->new;
    $t->write_conf($conf);
    return $t->test_config;
}

{
    my $conf = family_conf();
    $conf =~ s/tenant   \$tenant;/tenant   tenant;/;
    my ($rc, $out) = conf_error($conf);
    like($out, qr/"tenant" needs a variable/, 'nginx -t: tenant without $');

    $conf = family_conf();
    $conf =~ s/tenant   \$tenant;\n//;
    ($rc, $out) = conf_error($conf);
    like($out, qr/uses \$tenant in "name" but has no "tenant"/,
         'nginx -t: $tenant without tenant');

    $conf = family_conf();
    $conf =~ s/name     acme-crm-\$tenant;/name     acme-\$host;/;
    ($rc, $out) = conf_error($conf);
    like($out, qr/may use only the variable \$tenant/,
         'nginx -t: another variable in name');

    ($rc, $out) = conf_error(family_conf(block => "        create on;"));
    like($out, qr/\[warn\].*"create on" but no oc_connect/,
         'nginx -t: create on without oc_connect warns');
    is($rc, 0, 'nginx -t: the warning alone passes');

    $conf = family_conf(
        locations => "        location = /connect/other "
                     . "{ oc_connect other; }\n",
        top => "    oc_instance other {\n        element pipedrive;\n"
               . "        auth accessToken;\n"
               . "        config pipedrive.api.token x;\n    }\n");
    ($rc, $out) = conf_error($conf);
    like($out,
         qr/oc_connect "other" names an oc_instance without "tenant"/,
         'nginx -t: oc_connect of a block without tenant');

    ($rc, $out) = conf_error(family_conf(
        locations => "        location = /events { oc_events crm; }\n"));
    like($out, qr/oc_events "crm" names an oc_instance with "tenant"/,
         'nginx -t: oc_events of a family');

    $conf = family_conf();
    $conf =~ s/auth     accessToken;/auth     oauth2;/;
    ($rc, $out) = conf_error($conf);
    like($out, qr/"crm" \(auth oauth2, tenant\) is missing config oauth\.api/,
         'nginx -t: an oauth2 family needs the app keys (t/oc_oauth_tenant.t)');
}

# ---- two tenants, two workers -----------------------------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $a = seed($sim, 'a');
    my $b = seed($sim, 'b');
    $t->write_conf(family_conf())->run;

    my $ok = 1;
    for my $i (1 .. 10) {
        $ok &&= get_as($i % 2 ? 'a' : 'b') =~ / 200 /;
    }
    ok($ok, 'two tenants: every request answered 200');

    my @tok = hub_tokens($sim);
    is(scalar @tok, 10, 'two tenants: ten upstream requests');
    is_deeply(\@tok, [map { $_ % 2 ? $a->{token} : $b->{token} } 1 .. 10],
              'two tenants: each carried its own tenant\'s token');
    is_deeply(searches($sim), { a => 1, b => 1 },
              'two tenants: one tag search per tenant across workers');
    is($sim->count('POST /instances'), 0, 'two tenants: nothing created');

    # a bad value: 400, no call
    $sim->reset;
    for my $bad ('', 'a%20b', 'x' x 129, 'a/b', 'a"b') {
        like(get_as($bad), qr/ 400 .*invalid tenant/s,
             'bad tenant "' . substr($bad, 0, 8) . '": 400');
    }
    is(scalar @{ $sim->calls }, 0, 'bad tenant: no Open Connectors call');

    my $fam = family();
    is($fam->{tenants}{states}{ready}, 2, 'status: two ready tenants');
    my $one = family('/status?format=json&tenant=a');
    is($one->{tenant}{state}, 'ready', 'status: ?tenant= shows one tenant');
    is($one->{tenant}{value}, 'a', 'status: the tenant named');
    is($one->{tenant}{id}, $a->{id}, 'status: with its instance id');
    is($one->{requests}{injected}, 10, 'status: the family counts requests');
    unlike(OCTest::http_body(get_as('a', '/status?format=json&tenant=a')),
           qr/\Q$a->{token}\E/, 'status: no token');
    $t->stop;
}

# ---- not connected ----------------------------------------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    # the interval outlasts six requests, under valgrind too
    my $ttl = $OCTest::SLOW;
    $t->write_conf(family_conf(block => " oc_tenant_absent_ttl ${ttl}s;",
                               workers => 1))->run;

    my $r = get_as('nobody');
    like($r, qr/ 409 /, 'not connected: 409');
    my $body = eval { decode_json(OCTest::http_body($r)) } // {};
    is($body->{error}, 'not connected', 'not connected: JSON error');
    is($body->{tenant}, 'nobody', 'not connected: names the tenant');
    like(get_as('nobody'), qr/ 409 /, 'not connected: again') for 1 .. 5;
    is(searches($sim)->{nobody}, 1, 'not connected: one lookup per interval');
    sleep 1.2 * $ttl;
    like(get_as('nobody'), qr/ 409 /, 'not connected: after the ttl');
    is(searches($sim)->{nobody}, 2, 'not connected: looked up again');
    is($sim->count('POST /instances'), 0, 'not connected: no create');

    # single flight per tenant: 10 concurrent cold requests, one lookup
    $sim->reset;
    seed($sim, 'cold');
    $sim->latency(0.3);
    my @pids;
    for (1 .. 10) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            POSIX::_exit(get_as('cold') =~ / 200 / ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $fails = 0;
    for (@pids) { waitpid($_, 0); $fails++ if $? }
    $sim->latency(0);
    is($fails, 0, 'single flight: all ten served');
    is(searches($sim)->{cold}, 1, 'single flight: one lookup');
    $t->stop;
}

# ---- many cold tenants at once ----------------------------------------------

# 60 concurrent requests over 30 cold tenants, 2 workers: one lookup per
# tenant, and each upstream request carries its own tenant's token
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my %token = map { ("m$_" => seed($sim, "m$_")->{token}) } 1 .. 30;
    $t->write_conf(family_conf())->run;
    $sim->latency(0.1);

    my @pids;
    for my $i (1 .. 60) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $tn = 'm' . (($i - 1) % 30 + 1);
            POSIX::_exit(get_as($tn, "/crm/contacts?t=$tn") =~ / 200 /
                         ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $fails = 0;
    for (@pids) { waitpid($_, 0); $fails++ if $? }
    $sim->latency(0);

    is($fails, 0, 'cold many: all sixty served');
    my $n = searches($sim);
    is(scalar(keys %$n), 30, 'cold many: thirty tenants looked up');
    is(scalar(grep { $_ != 1 } values %$n), 0,
       'cold many: exactly one lookup each');
    my @wrong = grep {
        my ($tn) = ($_->{query} // '') =~ /t=(m\d+)/;
        !$tn || ($_->{authorization} // '') !~ /Element \Q$token{$tn}\E$/
    } grep { $_->{path} =~ m{/hubs/} } @{ $sim->calls };
    is(scalar @wrong, 0, 'cold many: every upstream request had its '
                         . 'tenant\'s token');
    $t->stop;
}

# ---- the tenant variable evaluated on demand ($http_..., not set) ---------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $a = seed($sim, 'a');
    my $b = seed($sim, 'b');
    my $conf = family_conf(workers => 1);
    $conf =~ s/tenant   \$tenant;/tenant   \$http_x_tenant;/ or die;
    $conf =~ s/\n\s*set \$tenant \$http_x_tenant;\n/\n/ or die;
    $t->write_conf($conf)->run;

    my @codes = map { (get_as($_) =~ m{^HTTP/1\.1 (\d+)})[0] }
                qw(a b a a b);
    is("@codes", '200 200 200 200 200', 'on demand: every request 200');
    is_deeply([hub_tokens($sim)],
              [map { $_->{token} } $a, $b, $a, $a, $b],
              'on demand: each carried its own tenant\'s token');
    is_deeply(searches($sim), { a => 1, b => 1 },
              'on demand: one tag search per tenant');
    $sim->reset;
    like(get_as('a/b'), qr/ 400 .*invalid tenant/s, 'on demand: bad value 400');
    is(scalar @{ $sim->calls }, 0, 'on demand: no call for it');
    $t->stop;
}

# ---- no room: every tenant kept is being resolved ----------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    seed($sim, $_) for qw(r1 r2 r3);
    $t->write_conf(family_conf(block => '        oc_tenants_max 2;',
                               workers => 1))->run;

    # both tenants the zone may keep are held in their lookups
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 2,
                delay => 1.5);

    my @held;
    for my $tn (qw(r1 r2)) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => port(8080))
            or die "connect: $!";
        print $s "GET /crm/contacts HTTP/1.0\r\nHost: localhost\r\n"
                 . "X-Tenant: $tn\r\n\r\n";
        push @held, $s;
    }
    sleep 0.5;

    my $r = get_as('r3');
    like($r, qr{^HTTP/1\.1 503 }, 'no room: 503 for a third tenant');
    like($r, qr/^Retry-After: 1\r$/m, 'no room: Retry-After');
    like($r, qr/^Content-Type: application\/json/mi, 'no room: a JSON body');
    like($r, qr/"error":"instance unavailable".*"reason":"no room/,
         'no room: the body says why');
    unlike($r, qr/pd-r\d|Element/, 'no room: no token in the answer');
    is(searches($sim)->{r3}, undef, 'no room: no lookup for it');

    for my $s (@held) {
        local $/;
        my $got = <$s> // '';
        like($got, qr{^HTTP/1\.1 200 }, 'no room: a held tenant served');
    }
    like($t->error_log, qr/no room in oc_zone for tenant of "crm"/,
         'no room: logged');
    $t->stop;
}

# ---- eviction ---------------------------------------------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    seed($sim, "t$_") for 1 .. 15;
    $t->write_conf(family_conf(block => '        oc_tenants_max 10;',
                               workers => 1))->run;

    my $ok = 1;
    for (1 .. 15) {
        $ok &&= get_as("t$_") =~ / 200 /;
    }
    ok($ok, 'eviction: fifteen tenants served with room for ten');
    my $fam = family();
    cmp_ok($fam->{tenants}{count} // 99, '<=', 10,
           'eviction: at most ten kept');
    cmp_ok($fam->{tenants}{evicted} // 0, '>=', 5, 'eviction: counted');
    like(get_as('t1'), qr/ 200 /, 'eviction: an evicted tenant comes back');
    is(searches($sim)->{t1}, 2, 'eviction: looked up again');
    unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'eviction: no alert');
    $t->stop;
}

# ---- reload -----------------------------------------------------------------

# the zone keeps its tenants over a reload: no lookup again
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $a = seed($sim, 'a');
    $t->write_conf(family_conf())->run;

    like(get_as('a'), qr/ 200 /, 'reload: a served');
    like(get_as('nobody'), qr/ 409 /, 'reload: nobody not connected');
    $t->reload;
    like(get_as('a'), qr/ 200 /, 'reload: a served after the reload');
    like(get_as('nobody'), qr/ 409 /, 'reload: nobody still refused');
    is_deeply(searches($sim), { a => 1, nobody => 1 },
              'reload: no lookup again');
    is((hub_tokens($sim))[-1], $a->{token}, 'reload: the same token');
    unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'reload: no alert');
    $t->stop;
}

# ---- the hot path's later needs ---------------------------------------------

# a ready tenant's request holds nothing on its tenant's copy: a body read
# later, $oc_instance_id, a 401 answered after the copy went (two tenants
# of room, two new ones while the request is at its upstream), a replay
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my %tn = map { ($_ => seed($sim, $_)) } qw(a b c d);
    my $locs = <<"EOF";
        location /crm2/ {
            oc_pass          crm;
            oc_retry_on_401  on;
            add_header       X-Instance \$oc_instance_id always;
            proxy_pass       %%OC_API_URL%%/hubs/crm/;
        }
EOF
    $t->write_conf(family_conf(block => '        oc_tenants_max 2;',
                               workers => 1, locations => $locs))->run;

    my $r = get_as('a', '/crm2/contacts');
    like($r, qr/ 200 /, 'later: a served');
    like($r, qr/^X-Instance: $tn{a}{id}\r?$/mi,
         'later: $oc_instance_id is the tenant\'s instance');

    # a body that arrives late for a ready tenant: the upstream request is
    # made after the handler, and two new tenants come meanwhile, with
    # room for two
    like(get_as('b'), qr/ 200 /, 'later: b ready');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => port(8080), Proto => 'tcp')
        or die "connect: $!";
    my $body = '{"name":"late"}';
    print {$s} "POST /crm/contacts HTTP/1.0\r\nHost: localhost\r\n"
               . "X-Tenant: b\r\nContent-Type: application/json\r\n"
               . "Content-Length: " . length($body) . "\r\n\r\n";
    sleep 0.2;
    like(get_as('c'), qr/ 200 /, 'later: c while b\'s body is on its way');
    like(get_as('d'), qr/ 200 /, 'later: d while b\'s body is on its way');
    print {$s} $body;
    my $sel = IO::Select->new($s);
    $r = '';
    while ($sel->can_read(5)) {
        last unless sysread($s, $r, 65536, length $r);
    }
    close $s;
    like($r, qr/^HTTP\/1\.1 20[01] /, 'later: a late body proxied');
    my ($post) = grep { $_->{endpoint} eq 'POST /hubs/contacts' }
                 @{ $sim->calls };
    like($post && $post->{authorization}, qr/Element \Q$tn{b}{token}\E$/,
         'later: the late body\'s request carried its tenant\'s token');

    # a's copy goes while its request waits for a 401 of its old token
    my $new = $sim->rotate($tn{a}{id});
    $sim->latency(0.4);
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $got = get_as('a', '/crm/contacts?slow=1');
        POSIX::_exit($got =~ / (200|401) / ? 0 : 1);
    }
    sleep 0.1;
    like(get_as('c'), qr/ 200 /, 'later: c while a waits');
    like(get_as('d'), qr/ 200 /, 'later: d while a waits');
    waitpid($pid, 0);
    is($?, 0, 'later: a answered 200 or its upstream\'s 401');
    $sim->latency(0);
    like(get_as('a', '/crm2/contacts'), qr/ 200 /,
         'later: a served again (a replay if its token was stale)');
    is((hub_tokens($sim))[-1], $new, 'later: with its new token');
    cmp_ok(family()->{tenants}{evicted}, '>=', 2, 'later: tenants evicted');
    unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'later: no alert');
    $t->stop;
}

# ---- 401 and disabled, per tenant -------------------------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $a = seed($sim, 'a');
    my $b = seed($sim, 'b');
    seed($sim, 'd', disabled => 1);
    $t->write_conf(family_conf(workers => 1))->run;

    like(get_as('a'), qr/ 200 /, '401: a warm');
    like(get_as('b'), qr/ 200 /, '401: b warm');
    $sim->rotate($a->{id});
    like(get_as('a'), qr/ 401 /, '401: the old token of a refused');
    like(get_as('a'), qr/ 200 /, '401: a resolved again');
    my @tok = hub_tokens($sim);
    isnt($tok[-1], $a->{token}, '401: a carries its new token');
    like(get_as('b'), qr/ 200 /, '401: b untouched');
    is((hub_tokens($sim))[-1], $b->{token}, '401: b keeps its token');

    like(get_as('d'), qr/ 503 .*disabled/s, 'disabled: 503 for that tenant');
    like(get_as('b'), qr/ 200 /, 'disabled: others served');
    $t->stop;
}

done_testing;
