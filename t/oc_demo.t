#!/usr/bin/perl

# make run: scripts/run-demo starts the simulator and nginx, its curl line
# answers with the simulator's contacts through nginx, the two-tenant part
# (a family) says what nginx and the simulator did and it is so, SIGINT and
# SIGTERM leave nothing running; examples/nginx.conf passes nginx -t as the
# script fills it in, for the simulator and for a real Open Connectors.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest qw(port log_problems);

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find qw(find);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $ROOT = dirname(dirname(abs_path(__FILE__)));
my $SCRIPT = "$ROOT/scripts/run-demo";

# the nginx of the suite (OC_TEST_NGINX), which the script runs as NGINX_BIN;
# not under valgrind (make test-valgrind): the demo's own nginx starts and
# stops outside the harness, and memcheck's slow exit is not the demo's
my $NGINX = $OCTest::VALGRIND ? ($ENV{OC_VALGRIND_NGINX} || '/usr/sbin/nginx')
                              : $OCTest::NGINX;
plan skip_all => "no nginx at $NGINX" unless -x $NGINX;
plan skip_all => 'no build/ngx_oc_module.so: run make first'
    unless $OCTest::STATIC || -f "$ROOT/build/ngx_oc_module.so";
plan skip_all => 'no curl' unless grep { -x "$_/curl" } split /:/, $ENV{PATH};

my @SECRETS = qw(sim-user-secret sim-org-secret demo-password
                 demo-acme-pd-token demo-globex-pd-token);
my @REAL_ENV = qw(OC_API_URL OC_USER_SECRET OC_ORGANIZATION_SECRET
                  PIPEDRIVE_EMAIL PIPEDRIVE_PASSWORD PIPEDRIVE_API_TOKEN);


# ---- the demo, in the simulator mode ----------------------------------------

{
    my $dir = demo_dir();
    my ($nport, $sport) = (port(8080), port(8090));

    my $d = start_demo(DEMO_DIR => $dir, NGINX_PORT => $nport,
                       SIM_PORT => $sport);
    ok($d->{ready}, 'ready line') or diag($d->{out});

    my $out = $d->{out};
    my @curl = $out =~ /^(curl .*)$/mg;
    is(scalar @curl, 4, 'four curl lines');
    is($curl[0], "curl http://127.0.0.1:$nport/crm/contacts",
       'curl line names the nginx port');
    is_deeply([ @curl[1 .. 3] ],
              [ map { "curl -b demo_session=login-$_ "
                      . "http://127.0.0.1:$nport/tenant/crm/contacts" }
                qw(acme globex initech) ],
              'a curl line per customer');
    like($out, qr/\b$nport\b/, 'nginx port printed');
    like($out, qr/\b$sport\b/, 'simulator port printed');
    like($out, qr/^prefix: +\Q$dir\E$/m, 'prefix printed');
    like($out, qr/^error log: +\Q$dir\E\/error\.log$/m, 'error log printed');
    like($out, qr/^ready; Ctrl-C stops nginx and the simulator$/m,
         'ready line wording');

    my ($status, $body) = run_curl($curl[0]);
    is($status, 200, 'printed curl: 200');
    like($body, qr/Lovelace/, 'printed curl: simulator contacts');

    two_tenants($out, $nport, $sport, $dir, @curl[1 .. 3]);

    my $conf = slurp("$dir/nginx.conf");
    unlike($conf, qr/%%/, 'no placeholder left');
    like($conf, qr/^\s*oc_user_secret\s+file:/m, 'user secret from a file');
    like($conf, qr/^\s*oc_organization_secret\s+file:/m,
         'organization secret from a file');
    if ($OCTest::STATIC) {
        unlike($conf, qr/^\s*load_module\b/m, 'no load_module: built in');
    } else {
        like($conf, qr/^load_module\s+\Q$ROOT\E\/build\/ngx_oc_module\.so;/m,
             'load_module of the built module');
    }
    ok(!(grep { index($conf, $_) >= 0 } @SECRETS), 'no secret in nginx.conf');

    is(mode("$dir/secrets"), 0700, 'secrets directory 0700');
    my @files = glob("$dir/secrets/*");
    is(scalar @files, 6, 'six secret files (two are oc_connect bodies)');
    ok(!(grep { mode($_) != 0600 } @files), 'secret files 0600');

    like(slurp("$dir/error.log"),
         qr/oc_instance "pipedrive": created instance \d+ "ngx-oc-demo"/,
         'error log: instance created');
    like(slurp("$dir/access.log"),
         qr{"GET /crm/contacts HTTP/1\.1" 200 .* instance=\d+$}m,
         'access log: $oc_instance_id');

    my $gone = stop_demo($d, 'INT');
    is($gone->{status}, 0, 'SIGINT: exit status 0');
    ok($gone->{all_gone}, 'SIGINT: nginx, its workers and the simulator gone')
        or diag("left: @{ $gone->{left} }");
    ok(!listening($nport) && !listening($sport), 'SIGINT: ports closed');
    ok(!leftovers($dir), 'SIGINT: no process of the demo left');
    ok(!-e "$dir/secrets", 'secret files removed');
    like($gone->{out}, qr/^stopped; the logs stay in \Q$dir\E$/m,
         'stopped line');

    my $all = $gone->{out} . join '', map { slurp($_) } files($dir);
    ok(!(grep { index($all, $_) >= 0 } @SECRETS),
       'no secret in the output or the logs');
    is_deeply([ log_problems(slurp("$dir/error.log")) ], [],
              'no alert or emerg in the error log');
}


# ---- busy default ports, SIGTERM --------------------------------------------

{
    # hold 8080 and 8090 unless something else already does
    my @hold = grep { defined } map {
        IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $_,
                              Proto => 'tcp', Listen => 1, ReuseAddr => 1)
    } 8080, 8090;

    my $dir = demo_dir();
    my $d = start_demo(DEMO_DIR => $dir);
    ok($d->{ready}, 'busy defaults: ready') or diag($d->{out});

    my ($curl) = $d->{out} =~ /^(curl .*)$/m;
    my ($nport) = ($curl // '') =~ /:(\d+)\//;
    my ($sport) = $d->{out} =~ /^simulator: .*:(\d+)\b/m;
    ok($nport && $nport != 8080, 'busy defaults: another nginx port');
    ok($sport && $sport != 8090, 'busy defaults: another simulator port');

    my ($status, $body) = run_curl($curl // 'curl');
    is($status, 200, 'busy defaults: printed curl 200');
    like($body, qr/Lovelace/, 'busy defaults: simulator contacts');

    my $gone = stop_demo($d, 'TERM');
    is($gone->{status}, 0, 'SIGTERM: exit status 0');
    ok($gone->{all_gone}, 'SIGTERM: nginx, its workers and the simulator gone')
        or diag("left: @{ $gone->{left} }");
    ok(!leftovers($dir), 'SIGTERM: no process of the demo left');
    ok(!listening($nport // 0) && !listening($sport // 0),
       'SIGTERM: ports closed');

    # an explicit port that is taken is an error, not a fallback
    my $busy = $hold[0] // IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                                 LocalPort => 0,
                                                 Proto => 'tcp', Listen => 1);
    my ($rc, $out) = run_script([], DEMO_DIR => demo_dir(),
                                NGINX_PORT => $busy->sockport);
    is($rc, 1, 'NGINX_PORT in use: exit 1');
    like($out, qr/NGINX_PORT \d+ is in use/, 'NGINX_PORT in use: message');
}


# ---- nginx -t of examples/nginx.conf as the script fills it in -------------

{
    my $cdir = demo_dir();
    my ($rc, $out) = run_script(['--check'], DEMO_DIR => $cdir);
    is($rc, 0, 'check, simulator: nginx -t passes');
    like($out, qr/test is successful/, 'check, simulator: nginx -t output');
    like(slurp("$cdir/nginx.conf"), qr/^\s*oc_connect\s+customers;/m,
         'check, simulator: with the two-tenant part');

    my %real = (OC_API_URL => 'https://localhost:9/elements/api-v2/',
                OC_USER_SECRET => 'real-user-secret-x1',
                OC_ORGANIZATION_SECRET => 'real-org-secret-x2');

    my $dir = demo_dir();
    ($rc, $out) = run_script(['--check'], %real, DEMO_DIR => $dir,
                             PIPEDRIVE_API_TOKEN => 'pd-api-token-x3');
    is($rc, 0, 'check, accessToken: nginx -t passes') or diag($out);
    my $conf = slurp("$dir/nginx.conf");
    like($conf, qr/^\s*auth\s+accessToken;/m, 'accessToken: auth');
    like($conf, qr/^\s*config\s+pipedrive\.api\.token\s+file:\S+;/m,
         'accessToken: token from a file');
    unlike($conf, qr/pipedrive\.(email|password)/,
           'accessToken: no emailPassword keys');
    unlike($conf, qr/^\s*(?:oc_connect|tenant|map)\s|login-check/m,
           'real Open Connectors: no two-tenant part');
    like($conf, qr{proxy_pass\s+https://localhost:9/elements/api-v2/hubs/crm/;},
         'accessToken: proxy_pass to the hub');
    like($conf, qr/proxy_ssl_server_name\s+on;/, 'proxy_ssl_server_name on');
    ok(!-e "$dir/secrets", 'check: secret files removed');

    $dir = demo_dir();
    ($rc, $out) = run_script(['--check'], %real, DEMO_DIR => $dir,
                             PIPEDRIVE_EMAIL => 'crm@example.com',
                             PIPEDRIVE_PASSWORD => 'pd-password-x4');
    is($rc, 0, 'check, emailPassword: nginx -t passes') or diag($out);
    like(slurp("$dir/nginx.conf"), qr/^\s*auth\s+emailPassword;/m,
         'emailPassword: auth');
    ok(!(grep { index($out, $_) >= 0 }
              qw(real-user-secret-x1 real-org-secret-x2 pd-password-x4)),
       'check: no secret in the output');

    ($rc, $out) = run_script([], %real, DEMO_DIR => demo_dir());
    is($rc, 1, 'no Pipedrive credentials: exit 1');
    like($out, qr/set PIPEDRIVE_EMAIL and PIPEDRIVE_PASSWORD, or PIPEDRIVE_API/,
         'no Pipedrive credentials: message');

    ($rc, $out) = run_script([], %real, DEMO_DIR => demo_dir(),
                             PIPEDRIVE_EMAIL => 'crm@example.com');
    is($rc, 1, 'email without password: exit 1');
    like($out, qr/PIPEDRIVE_PASSWORD is not/,
         'email without password: message');

    my $other = demo_dir();
    open(my $fh, '>', "$other/nginx.conf") or die "$other/nginx.conf: $!";
    print {$fh} "# someone else's\n";
    close $fh;
    ($rc, $out) = run_script(['--check'], DEMO_DIR => $other);
    is($rc, 1, 'DEMO_DIR not made by run-demo: exit 1');
    like($out, qr/is not empty and was not made by run-demo/,
         'DEMO_DIR not made by run-demo: message');
    is(slurp("$other/nginx.conf"), "# someone else's\n",
       'DEMO_DIR not made by run-demo: left alone');

    ($rc, $out) = run_script([], OC_API_URL => $real{OC_API_URL},
                             DEMO_DIR => demo_dir());
    is($rc, 1, 'partial Open Connectors settings: exit 1');
    like($out, qr/OC_API_URL set but not OC_USER_SECRET OC_ORGANIZATION_SECRET/,
         'partial Open Connectors settings: message');

    # nginx reads NGINX itself (inherited sockets): the binary is NGINX_BIN
    ($rc, $out) = run_script(['--check'], NGINX => $NGINX,
                             DEMO_DIR => demo_dir());
    is($rc, 1, 'NGINX set: exit 1');
    like($out, qr/NGINX is nginx's own variable .* NGINX_BIN/,
         'NGINX set: message names NGINX_BIN');
    unlike($out, qr/invalid socket number/, 'NGINX set: nginx not run');
}

done_testing;


# ---- helpers ----------------------------------------------------------------

# The two-tenant part of the demo's output, checked against what the
# simulator was asked and what nginx logged: each line is true.
sub two_tenants {
    my ($out, $nport, $sport, $dir, @curl) = @_;
    my $N = qr/[ ]+as (\w+):[ ]+/;

    my %conn = $out
        =~ m{^  POST /connect/pipedrive$N(201, instance \d+ ready)$}mg;
    is_deeply([ sort keys %conn ], [qw(acme globex)],
              'two tenants: acme and globex connected (201, ready)')
        or diag($out);
    my %id = map { $_ => ($conn{$_} =~ /instance (\d+)/)[0] } keys %conn;

    my %got = $out =~ m{^  GET  /tenant/crm/contacts$N(.*)$}mg;
    is($got{acme}, "200, served by instance " . ($id{acme} // '?'),
       'two tenants: acme served by its instance');
    is($got{globex}, "200, served by instance " . ($id{globex} // '?'),
       'two tenants: globex served by its instance');
    isnt($id{acme} // 0, $id{globex} // 0, 'two tenants: two instances');
    is($got{initech}, '409, not connected', 'two tenants: initech refused');
    unlike($out, qr/^warning:/m, 'two tenants: no warning');

    # what the simulator holds: one instance per connected customer, with
    # the token the application posted, and none for initech
    my $insts = sim_json($sport, '/_sim/instances') // [];
    my %inst;
    for my $i (grep { !$_->{deleted} } @$insts) {
        push @{ $inst{ $i->{name} } }, $i;
    }
    for my $t (qw(acme globex)) {
        my @i = @{ $inst{"ngx-oc-demo-$t"} // [] };
        is(scalar @i, 1, "two tenants: one instance for $t");
        is($i[0]{id}, $id{$t}, "two tenants: ${t}'s id as printed");
        is($i[0]{configuration}{'pipedrive.api.token'}, "demo-$t-pd-token",
           "two tenants: ${t}'s instance has ${t}'s Pipedrive token");
        ok((grep { $_ eq "ngx-oc-demo-customer:$t" } @{ $i[0]{tags} }),
           "two tenants: ${t}'s instance tagged for the lookup");
    }
    ok(!$inst{'ngx-oc-demo-initech'}, 'two tenants: no instance for initech');
    my %token = map { $_->{token} => $_->{name} } @$insts;

    # every call the simulator got so far: the demo's own, in order
    my $calls = sim_json($sport, '/_sim/calls') // {};
    my %count = %{ $calls->{counts} // {} };
    is($count{'POST /instances'}, 3,
       'simulator: three POST /instances (the single one, acme, globex)');
    my %search;
    for my $c (@{ $calls->{calls} // [] }) {
        next unless $c->{endpoint} eq 'GET /elements/{key}/instances';
        $search{$1}++ if ($c->{query} // '')
            =~ /tags%5B%5D=ngx-oc-demo-customer%3A(\w+)/;
    }
    is($search{initech}, 1, 'simulator: one tag search for initech');

    # the hub calls of each customer's request (its cookie went upstream
    # with it): its own instance's token, no other
    my %hub;
    for my $c (grep { $_->{endpoint} eq 'GET /hubs/contacts' }
               @{ $calls->{calls} // [] })
    {
        my ($cookie) = map { $_->[1] } grep { lc $_->[0] eq 'cookie' }
                       @{ $c->{headers} };
        my $who = ($cookie // '') =~ /demo_session=login-(\w+)/ ? $1 : '-';
        my ($tok) = ($c->{authorization} // '')
            =~ /^User\ sim-user-secret,\ Organization\ sim-org-secret,
                \ Element\ (\S+)$/x;
        push @{ $hub{$who} }, $token{ $tok // '' } // 'an unknown token';
    }
    is_deeply($hub{acme}, ['ngx-oc-demo-acme'],
              "simulator: acme's request with acme's token");
    is_deeply($hub{globex}, ['ngx-oc-demo-globex'],
              "simulator: globex's request with globex's token");
    ok(!$hub{initech}, 'simulator: no hub call for initech');
    my @first = @{ $hub{'-'} // [] };
    ok(@first && !grep({ $_ ne 'ngx-oc-demo' } @first),
       'simulator: the first request with the single instance\'s token');
    is($count{'GET /hubs/contacts'}, @first + 2,
       'simulator: no other hub call');

    # the printed curl lines, and no login or a raw header: no tenant
    my ($status, $body) = run_curl($curl[0]);
    is($status, 200, 'printed curl, acme: 200');
    like($body, qr/Lovelace/, 'printed curl, acme: contacts');
    ($status, $body) = run_curl($curl[2]);
    is($status, 409, 'printed curl, initech: 409');
    like($body, qr/"error":"not connected"/, 'printed curl, initech: body');
    ($status) = run_curl("curl -H X-Tenant:acme "
                         . "http://127.0.0.1:$nport/tenant/crm/contacts");
    is($status, 401, 'a raw X-Tenant header names no tenant: 401');
    $calls = sim_json($sport, '/_sim/calls') // {};
    is($calls->{counts}{'GET /hubs/contacts'},
       $count{'GET /hubs/contacts'} + 1,
       'simulator: only the printed acme curl went upstream since');

    my $access = slurp("$dir/access.log");
    for my $t (qw(acme globex)) {
        like($access, qr{"GET\ /tenant/crm/contacts\ HTTP/1\.1"\ 200\ .*
                         \ tenant=$t\ instance=$id{$t}$}mx,
             "access log: $t with its instance");
    }
    like(slurp("$dir/error.log"), qr/oc_instance\ "customers\/acme":
                                    \ created\ instance\ $id{acme}
                                    \ "ngx-oc-demo-acme"/x,
         'error log: acme\'s instance created');
}

# GET of a simulator control URI, decoded
sub sim_json {
    my ($sport, $uri) = @_;
    open(my $fh, '-|', 'curl', '-s', '--max-time', '10',
         "http://127.0.0.1:$sport$uri") or return undef;
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return eval { decode_json($out) };
}

sub demo_dir {
    my $dir = tempdir('oc-demo-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    return $dir;
}

# the child's environment: the simulator mode unless told otherwise
sub child_env {
    my (%env) = @_;
    delete @ENV{@REAL_ENV, qw(NGINX_PORT SIM_PORT DEMO_DIR NGINX NGINX_BIN)};
    $ENV{NGINX_BIN} = $NGINX;
    @ENV{keys %env} = values %env;
}

sub start_demo {
    my (%env) = @_;

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        child_env(%env);
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w);
        open(STDERR, '>&', $w);
        { exec { $SCRIPT } $SCRIPT; }
        POSIX::_exit(127);
    }
    close $w;

    my $d = { pid => $pid, fh => $r, out => '' };
    $d->{ready} = read_until($d, qr/^ready;.*\n/m, 60);
    return $d;
}

sub read_until {
    my ($d, $re, $timeout) = @_;
    my $sel = IO::Select->new($d->{fh});
    my $deadline = time + $timeout;

    while ($d->{out} !~ $re) {
        my $left = $deadline - time;
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($d->{fh}, $d->{out}, 4096, length $d->{out});
        return 0 unless $n;
    }
    return 1;
}

# signals the script and waits for it; the processes it had started must be
# gone by the time it has exited
sub stop_demo {
    my ($d, $sig) = @_;
    my @procs = descendants($d->{pid});

    kill $sig, $d->{pid};

    my $deadline = time + 20;
    my $status;
    while (time < $deadline) {
        if (waitpid($d->{pid}, WNOHANG) == $d->{pid}) {
            $status = $?;
            last;
        }
        sleep 0.05;
    }
    unless (defined $status) {
        kill 'KILL', $d->{pid}, map { $_->[0] } @procs;
        waitpid($d->{pid}, 0);
    }

    # the rest of the output, up to end of file
    my $sel = IO::Select->new($d->{fh});
    while ($sel->can_read(2)) {
        last unless sysread($d->{fh}, $d->{out}, 4096, length $d->{out});
    }
    close $d->{fh};

    my @left = grep { alive($_) } map { $_->[0] } @procs;
    kill 'KILL', @left if @left;

    # it had started a simulator, an nginx master and its workers
    my %kinds = map { $_->[1] => 1 } @procs;
    my $all = $kinds{sim} && $kinds{master} && $kinds{worker};

    return { status => $status, out => $d->{out}, left => \@left,
             all_gone => $all && !@left };
}

# runs the script to its end: (exit code, output)
sub run_script {
    my ($args, %env) = @_;

    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        child_env(%env);
        open(STDIN, '<', '/dev/null');
        open(STDERR, '>&', \*STDOUT);
        { exec { $SCRIPT } $SCRIPT, @$args; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# runs the printed curl line as is, plus options to see the status
sub run_curl {
    my ($line) = @_;
    my @cmd = split ' ', $line;
    open(my $fh, '-|', @cmd, '-s', '--max-time', '10',
         '-w', '\n%{http_code}') or return (0, '');
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my ($body, $status) = $out =~ /^(.*)\n(\d{3})\z/s;
    return ($status // 0, $body // $out);
}

sub descendants {
    my ($root) = @_;
    my %kids;

    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = slurp("/proc/$pid/stat") // next;
        push @{ $kids{$2} }, $1 if $stat =~ /^(\d+) \(.*\) \S (\d+) /s;
    }

    # [pid, kind]
    my @all;
    my @todo = ($root);
    while (defined(my $p = shift @todo)) {
        for my $k (@{ $kids{$p} || [] }) {
            my $cmd = slurp("/proc/$k/cmdline") // '';
            my $kind = $cmd =~ /^nginx: master/ ? 'master'
                     : $cmd =~ /^nginx: worker/ ? 'worker'
                     : $cmd =~ /ocsim\.py/ ? 'sim' : 'other';
            push @all, [ $k, $kind ];
            push @todo, $k;
        }
    }
    return @all;
}

sub alive {
    my ($pid) = @_;
    my $stat = slurp("/proc/$pid/stat") // return 0;
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/s && $1 ne 'Z' && $1 ne 'X';
}

# processes whose command line names the demo directory: nginx, even one
# that is no longer a descendant of the script
sub leftovers {
    my ($dir) = @_;
    my @found;

    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $cmd = slurp("/proc/$pid/cmdline") // next;
        push @found, $pid if index($cmd, $dir) >= 0 && alive($pid);
    }
    return @found;
}

sub listening {
    my ($port) = @_;
    return 0 unless $port;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return defined $s;
}

sub files {
    my ($dir) = @_;
    my @f;
    find(sub { push @f, $File::Find::name if -f $_ }, $dir);
    return @f;
}

sub mode {
    return (stat $_[0])[2] & 07777;
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    local $/;
    my $s = <$fh>;
    return $s // '';
}
