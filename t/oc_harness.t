# The test harness itself (t/lib/OCTest.pm: files, ports, placeholders,
# response parsers, the end-of-file log check, starting, reloading and
# stopping nginx, the simulator), and the module loading and staying silent
# when no oc_* directive is used.

use strict;
use warnings;

use File::Spec;
use Test::More;
use Time::HiRes qw(time sleep);

use lib 't/lib';
use OCTest qw(:DEFAULT port log_problems);

my $CONF = <<'EOF';
%%LOAD_MODULE%%
%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_8080%%;
        server_name  localhost;

        location / {
            return 200 "ok\n";
        }
    }
}
EOF

# processes whose command line names this prefix (the master's does)
sub prefix_procs {
    my ($dir) = @_;
    my @found;
    opendir(my $dh, '/proc') or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open(my $fh, '<', "/proc/$pid/cmdline") or next;
        local $/;
        my $cmd = <$fh> // '';
        push @found, $pid if index($cmd, "$dir/") >= 0 && $pid != $$;
    }
    return @found;
}

sub alive {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return 0;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z';
}

sub quiet_log {
    my ($t) = @_;
    my $dir = $t->testdir;
    my $mod = $OCTest::MODULE;
    # the prefix and the module's path may themselves contain "oc_"
    return grep { /oc_/ }
           map { (my $l = $_) =~ s/\Q$dir\E|\Q$mod\E//g; $l }
           split /\n/, $t->error_log;
}


# ---- the harness without nginx --------------------------------------------

my $t = OCTest->new;
my $dir = $t->testdir;

ok(-d $dir, 'testdir exists');
is((stat $dir)[2] & 07777, 0755, 'testdir is 0755');

my $path = $t->write_file('sub/dir/f.txt', "hello\n");
is($path, "$dir/sub/dir/f.txt", 'write_file returns the full path');
is($t->read_file('sub/dir/f.txt'), "hello\n", 'write_file wrote it');
is((stat $path)[2] & 07777, 0644, 'written files are world-readable');

my $p = $t->port(8080);
like($p, qr/^\d+$/, 'port is a number');
is($t->port(8080), $p, 'same key, same port');
is(port(8080), $p, 'port() function agrees with the method');
isnt($t->port(8081), $p, 'another key, another port');

$t->write_conf("%%PORT_8080%% %%PORT_8081%% %%TESTDIR%%\n"
    . "%%OC_API_URL%% %%SIM_URL%% %%OC_USER_SECRET%% %%OC_ORG_SECRET%%\n"
    . "%%LOAD_MODULE%%\n");
my $conf = $t->read_file('nginx.conf');
is((split /\n/, $conf)[0], "$p " . $t->port(8081) . " $dir",
   'ports and testdir substituted');
like($conf, qr{^http://127\.0\.0\.1:9/elements/api-v2 http://127\.0\.0\.1:9 \S+ \S+$}m,
     'simulator placeholders have defaults without a simulator');
like($conf, $OCTest::STATIC ? qr{^$}m
                            : qr{^load_module /\S+/ngx_oc_module\.so;$}m,
     'load_module names the built module by absolute path (none if static)');
is($t->conf_file, "$dir/nginx.conf", 'conf_file');
ok(!eval { $t->write_conf("%%NO_SUCH_THING%%\n"); 1 }, 'unknown placeholder');
like($@, qr/unknown placeholder %%NO_SUCH_THING%%/, 'unknown placeholder named');

# response parsers

my $plain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    . "Content-Length: 5\r\nX-Empty:\r\n\r\nhello";
is(http_status($plain), 200, 'status');
is(http_header($plain, 'content-type'), 'text/plain', 'header, any case');
is(http_header($plain, 'X-Empty'), '', 'empty header');
is(http_header($plain, 'X-Missing'), undef, 'missing header');
is(http_body($plain), 'hello', 'body by Content-Length');

my $chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    . "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
is(http_body($chunked), 'hello, world', 'chunked body');
is(OCTest::_complete($chunked), 1, 'chunked response complete');
is(OCTest::_complete(substr($chunked, 0, -2)), '',
   'chunked response without its end is not complete');

my $continue = "HTTP/1.1 100 Continue\r\n\r\n"
    . "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
is(http_status($continue), 201, 'interim 100 skipped');
is(http_body($continue), 'ok', 'body after an interim 100');

my $bare = "HTTP/1.0 204 No Content\r\n\r\n";
is(http_status($bare), 204, 'status line without headers');
is(http_body($bare), '', 'no body');
is(http_status(''), undef, 'no status in an empty response');
is(http_body(''), undef, 'no body in an empty response');

# the end-of-file check, on a made-up log

my $fake = <<'EOF';
2026/01/01 00:00:00 [notice] 1#1: start worker processes
2026/01/01 00:00:00 [error] 2#2: *1 open() "/x" failed
2026/01/01 00:00:00 [alert] 2#2: worker process 3 exited on signal 11
2026/01/01 00:00:00 [emerg] 1#1: bind() to 127.0.0.1:1 failed
==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x6
==42==ERROR: LeakSanitizer: detected memory leaks
2026/01/01 00:00:00 [warn] 1#1: the "user" directive makes sense only ...
EOF
my @bad = log_problems($fake);
is(scalar @bad, 4, 'check finds alert, emerg and sanitizer lines');
like($bad[0], qr/\[alert\] .* signal 11/, 'check reports the alert line');
is(scalar log_problems($fake, qr/signal 11/, qr/bind\(\)/), 2,
   'expected lines are not reported');
is(scalar log_problems(join "\n", grep { !/alert|emerg|Sanitizer/ }
                                  split /\n/, $fake), 0,
   'error, warn and notice lines pass');


# ---- nginx with the module and no oc_* directive ---------------------------

$t->write_conf($CONF);

my ($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t passes');
like($out, qr/\Q$dir\E\/nginx\.conf test is successful/, 'nginx -t says so');
ok(!-s "$dir/error.log", 'nginx -t wrote nothing to error.log');

$t->run;

my $master = $t->master_pid;
ok($master && alive($master), 'master running');
my @workers = $t->worker_pids;
is(scalar @workers, 1, 'one worker');
is($t->read_file('nginx.pid'), "$master\n", 'pid file');

my $r = http_get('/');
like($r, qr{^HTTP/1\.1 200 }, 'plain location served');
is(http_body($r), "ok\n", 'plain location body');
is(http_status(http_get('/', port => $t->port(8080))), 200,
   'port given as a number');
is(http_status(http_post('/', '{"a":1}', headers => "X-A: b\r\n")), 200,
   'post');

my $t0 = time;
$r = http("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
is(http_body($r), "ok\n", 'keep-alive request');
cmp_ok(time - $t0, '<', 2, 'keep-alive response read without waiting');

is(http_get('/', port => 9, timeout => 1), '', 'nothing listening: empty');

# the keep-alive connection above may still log its close (late under
# valgrind): only nginx -t may write to error.log from here on
my $settle = time + 2 * $OCTest::SLOW;
sleep 0.02 until $t->grep_log(qr/closed keepalive connection/)
                 || time > $settle;

my $size = -s "$dir/error.log";
($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t passes while running');
is($t->read_file('nginx.pid'), "$master\n", 'nginx -t left the pid file');
is(-s "$dir/error.log", $size, 'nginx -t left error.log alone');

$t->write_conf($CONF =~ s/server_name/oc_no_such_directive on;\n        $&/r);
($rc, $out) = $t->test_config;
my @lines = split /\n/, $t->read_file('nginx.conf');
my ($line) = grep { $lines[$_ - 1] =~ /oc_no_such/ } 1 .. @lines;
is($rc, 1, 'nginx -t fails on a bad directive');
like($out,
     qr/unknown directive "oc_no_such_directive" in \Q$dir\E\/nginx\.conf:$line\b/,
     'nginx -t names the directive, file and line');
unlike($t->error_log, qr/\[emerg\]/, 'nginx -t left error.log alone');

$t->write_conf($CONF);

is_deeply([ quiet_log($t) ], [], 'nothing from the module in the log');

# reload

$t->reload;
my @new = $t->worker_pids;
is(scalar @new, 1, 'one worker after reload');
ok(!grep({ alive($_) } @workers), 'old worker exited');
isnt($new[0], $workers[0], 'worker replaced');
is($t->master_pid, $master, 'same master');
is(http_body(http_get('/')), "ok\n", 'served after reload');

$t->write_conf($CONF =~ s/server_name/oc_no_such_directive on;\n        $&/r);
$t->expect_log(qr/unknown directive "oc_no_such_directive"/);
ok(!eval { $t->reload; 1 }, 'reload with a bad configuration dies');
like($@, qr/reload failed:.*unknown directive/s, 'reload says why');
is_deeply([ $t->worker_pids ], \@new, 'old worker kept');
is(http_body(http_get('/')), "ok\n", 'still served');

$t->write_conf($CONF);
$t->reload;
is(http_body(http_get('/')), "ok\n", 'served after a good reload');

is(scalar $t->grep_log(qr/\d: reconfiguring$/), 3, 'grep_log counts lines');
is_deeply([ grep { !/oc_no_such_directive/ } quiet_log($t) ], [],
          'still nothing from the module in the log');

# stop

@workers = $t->worker_pids;
$t->stop;
ok(!alive($master), 'master gone');
ok(!grep({ alive($_) } @workers), 'workers gone');
is_deeply([ prefix_procs($dir) ], [], 'no process of this prefix left');
ok(!-e "$dir/nginx.pid", 'pid file removed');
is(http_get('/', timeout => 1), '', 'port closed');
is($t->master_pid, undef, 'no master pid after stop');
is_deeply([ $t->worker_pids ], [], 'no worker pids after stop');
ok(eval { $t->stop; 1 }, 'stop is idempotent');

$t->run;
is(http_body(http_get('/')), "ok\n", 'runs again after stop');
ok(!eval { $t->run; 1 }, 'run while running dies');

# a master that died leaves its workers behind: stop cleans them up
$master = $t->master_pid;
@workers = $t->worker_pids;
kill 'KILL', $master;
sleep 0.1 while alive($master);
ok(alive($workers[0]), 'worker outlived the killed master');
$t->stop;
ok(!grep({ alive($_) } @workers), 'stop killed the orphaned worker');

# a configuration nginx refuses to start with

my $t2 = OCTest->new;
$t2->write_conf($CONF =~ s/%%PORT_8080%%/%%PORT_8090%%/r
                      =~ s/server_name/oc_no_such_directive on;\n        $&/r);
$t2->expect_log(qr/unknown directive "oc_no_such_directive"/);
ok(!eval { $t2->run; 1 }, 'run with a bad configuration dies');
like($@, qr/unknown directive "oc_no_such_directive".*--- error\.log:/s,
     'run reports nginx output and the error log tail');
is($t2->master_pid, undef, 'no master');


# ---- the end-of-file check and END, in a test of their own ----------------

my $lib = File::Spec->rel2abs('t/lib');

sub subtest_run {
    my ($body) = @_;
    my $script = $t->write_file('sub.t', <<"EOF" . $body);
use strict;
use warnings;
use Test::More;
use lib '$lib';
use OCTest;
my \$t = OCTest->new;
\$t->write_conf(<<'CONF');
$CONF
CONF
\$t->run;
print "# master ", \$t->master_pid, "\\n";
print "# testdir ", \$t->testdir, "\\n";
ok(1, 'started');
EOF

    local $ENV{OC_TEST_KEEP};
    delete $ENV{OC_TEST_KEEP};
    my $output = `$^X $script 2>&1`;
    my $status = $? >> 8;
    my ($pid) = $output =~ /^# master (\d+)$/m;
    my ($tdir) = $output =~ /^# testdir (\S+)$/m;

    return ($status, $output, $pid, $tdir);
}

my $alert = <<'EOF';
open(my $fh, '>>', $t->testdir . '/error.log') or die;
print $fh "2026/01/01 00:00:00 [alert] 1#1: made-up alert\n";
close $fh;
EOF

my ($status, $output, $pid, $tdir) = subtest_run($alert . "done_testing;\n");
isnt($status, 0, 'an [alert] fails the test file');
like($output, qr/^not ok 2 - no alerts/m, 'the check fails');
like($output, qr/^#.*\[alert\] 1#1: made-up alert$/m, 'the check names the line');
ok($pid && !alive($pid), 'nginx stopped at exit');
ok($tdir && !-e $tdir, 'testdir removed at exit');

($status, $output, $pid) = subtest_run(
    "\$t->expect_log(qr/made-up alert/);\n" . $alert . "done_testing;\n");
is($status, 0, 'an expected [alert] passes') or diag $output;
like($output, qr/^ok 2 - no alerts/m, 'the check ran and passed');
like($output, qr/^1\.\.2$/m, 'the check is counted before the plan');

($status, $output, $pid, $tdir) = subtest_run("die 'mid-way';\n");
isnt($status, 0, 'a test dying mid-way fails');
ok($pid && !alive($pid), 'nginx stopped when the test died');
ok($tdir && !-e $tdir, 'testdir removed when the test died');

($status, $output) = subtest_run("\$t->plan(1);\n");
is($status, 0, '$t->plan reserves a test for the check') or diag $output;
like($output, qr/^1\.\.2\n/m, 'plan counts the check');


# ---- the simulator ---------------------------------------------------------

SKIP: {
    skip 'no t/lib/OCSim.pm', 5 unless -f 't/lib/OCSim.pm';
    skip 'no python3', 5 unless -x ($ENV{OCSIM_PYTHON} || '/usr/bin/python3');

    my $t3 = OCTest->new;
    my $sim = $t3->sim;
    ok($sim && $sim->port, 'simulator started');

    $t3->write_conf("%%OC_API_URL%% %%SIM_URL%% %%OC_USER_SECRET%%"
                    . " %%OC_ORG_SECRET%%\n");
    is($t3->read_file('nginx.conf'),
       join(' ', $sim->api_url, $sim->base_url, $sim->user_secret,
            $sim->org_secret) . "\n",
       'simulator placeholders');

    my $sport = $sim->port;
    # no connection to it: see the listening socket in /proc instead
    ok(OCTest::_listening($sport), 'simulator listening');
    $t3->stop;
    ok(!OCTest::_listening($sport), 'simulator stopped with the harness');
    ok(!$sim->pid, 'simulator process reaped');
}

done_testing;
