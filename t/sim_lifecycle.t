# Simulator: process life (signals, cleanup, CLI), HTTP/1.1 details, concurrency, TLS.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use OCSim;

my $dir = tempdir(CLEANUP => 1);

sub alive {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return 0;
    my $stat = <$fh>;
    return $stat !~ /^\d+ \(.*\) Z/;
}

sub gone_within {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 unless alive($pid);
        sleep 0.05;
    }
    return !alive($pid);
}

# Run ocsim.py directly (stderr to a file); returns (pid, ready line, errfile).
my $spawned = 0;
sub spawn {
    my (@args) = @_;
    my $err = "$dir/stderr." . ++$spawned;
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        open(STDERR, '>', $err) or POSIX::_exit(127);
        { exec $OCSim::PYTHON, $OCSim::SCRIPT, @args }
        POSIX::_exit(127);
    }
    close $w;
    my $line = OCSim::_read_line($r, 10);
    close $r;
    return ($pid, $line, $err);
}

sub wait_exit {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return undef;
}

sub slurp { open(my $fh, '<', $_[0]) or return ''; local $/; <$fh> }

sub connect_to {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "connect: $!";
    return $s;
}

# Read one response (head + Content-Length body) from a socket.
sub read_response {
    my ($s) = @_;
    my ($buf, $sel) = ('', IO::Select->new($s));
    while ($buf !~ /\r\n\r\n/) {
        return undef unless $sel->can_read(10) && sysread($s, $buf, 4096, length $buf);
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    while (length $body < ($len // 0)) {
        return undef unless $sel->can_read(10) && sysread($s, $body, 4096, length $body);
    }
    return ($head, $body);
}

# ---- signals -----------------------------------------------------------------------

{
    my $sim = OCSim->start;
    my $auth = $sim->platform_auth;
    my $idle = connect_to($sim->port);
    print $idle "GET /_sim/health HTTP/1.1\r\nHost: x\r\n\r\n";
    ok(read_response($idle), 'a keep-alive connection is open');
    $sim->fault(endpoint => 'GET /instances', delay => 30);
    my $busy = connect_to($sim->port);
    print $busy "GET /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: $auth\r\n\r\n";
    sleep 0.2;    # the delayed request is now in flight
    my $pid = $sim->pid;
    my $t0 = time;
    my $status = $sim->stop;
    my $took = time - $t0;
    is($status, 0, 'SIGTERM: exit status 0');
    cmp_ok($took, '<', 2, sprintf('SIGTERM: stopped in %.2fs despite open '
        . 'and busy connections', $took));
    ok(!alive($pid), 'process is gone');
    is($sim->stop, undef, 'a second stop does nothing');
}

{
    my ($pid, $line) = spawn('--listen', '127.0.0.1:0');
    like($line, qr{^ocsim ready on http://127\.0\.0\.1:\d+$}, 'direct start');
    kill 'INT', $pid;
    is(wait_exit($pid, 10), 0, 'SIGINT: exit status 0');
}

# ---- command line ----------------------------------------------------------------------

{
    my ($pid, $line, $err) = spawn('--listen', '127.0.0.1:0', '--verbose');
    my ($port) = $line =~ /:(\d+)$/;
    my $r = HTTP::Tiny->new->get("http://127.0.0.1:$port/elements/api-v2/instances",
        { headers => { Authorization =>
            'User sim-user-secret, Organization sim-org-secret' } });
    is($r->{status}, 200, 'default secrets are sim-user-secret/sim-org-secret');
    $r = HTTP::Tiny->new->get("http://127.0.0.1:$port/elements/api-v2/hubs/crm/"
        . 'contacts', { headers => { Authorization =>
            'User sim-user-secret, Element x' } });
    is($r->{status}, 401, 'unknown token');
    kill 'TERM', $pid;
    is(wait_exit($pid, 10), 0, 'verbose run stopped');
    like(slurp($err), qr{GET /elements/api-v2/instances}, '--verbose logs requests');

    ($pid, $line, $err) = spawn('--listen', '127.0.0.1:0');
    ($port) = $line =~ /:(\d+)$/;
    HTTP::Tiny->new->get("http://127.0.0.1:$port/elements/api-v2/instances");
    kill 'TERM', $pid;
    wait_exit($pid, 2);
    is(slurp($err), '', 'quiet without --verbose');

    for my $bad (['--page-size', '0'], ['--tls-cert', '/dev/null'],
                 ['--nonsense'])
    {
        ($pid, $line, $err) = spawn('--listen', '127.0.0.1:0', @$bad);
        is($line, undef, "@$bad: no ready line");
        is(wait_exit($pid, 5) >> 8, 2, "@$bad: exit status 2");
    }
}

# ---- cleanup by the Perl client --------------------------------------------------------

{
    my $pid;
    { my $sim = OCSim->start; $pid = $sim->pid; ok(alive($pid), 'started'); }
    ok(!alive($pid), 'DESTROY stops the simulator');
}

{
    my $sim = OCSim->start;
    my $kid = fork // die;
    if (!$kid) {
        my $ok = !defined $sim->stop;
        undef $sim;    # DESTROY in the child, then END on exit
        exit($ok ? 0 : 1);
    }
    waitpid($kid, 0);
    is($?, 0, 'stop in a forked child does nothing');
    ok(alive($sim->pid), 'the simulator survived the child\'s DESTROY and END');
    is($sim->health->{ok}, JSON::PP::true, 'and still answers');
}

for my $case (['die', 'die "boom\n"'], ['exit 3', 'exit 3'],
              ['SIGKILL', 'kill KILL => $$'])
{
    my $code = 'open(STDERR, ">", "/dev/null"); use OCSim; $| = 1;'
        . ' my $s = OCSim->start; print $s->pid, "\n";'
        . " $case->[1];";
    my $lib = $INC{'OCSim.pm'} =~ s{/OCSim\.pm$}{}r;
    open(my $ph, '-|', $^X, "-I$lib", '-e', $code) or die;
    my $pid = <$ph>;
    close $ph;
    chomp $pid;
    ok($pid && gone_within($pid, 3),
        "a test that ends by $case->[0] leaves no simulator behind");
}

# ---- HTTP/1.1 details ----------------------------------------------------------------

my $sim = OCSim->start;
my $auth = $sim->platform_auth;
{
    my $s = connect_to($sim->port);
    for my $n (1 .. 3) {
        print $s "GET /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
            . "Authorization: $auth\r\n\r\n";
        my ($head, $body) = read_response($s);
        like($head // '', qr{^HTTP/1\.1 200 .*^Content-Length: 2\r?$}ms,
            "keep-alive request $n answered with Content-Length");
    }

    my $json = '{"element":{"key":"pipedrive"},"name":"chunky",'
        . '"configuration":{"pipedrive.email":"e","pipedrive.password":"p"}}';
    my $chunked = join '', map { sprintf("%x\r\n%s\r\n", length, $_) }
        unpack('(A20)*', $json);
    print $s "POST /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: $auth\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "${chunked}0\r\n\r\n";
    my ($head, $body) = read_response($s);
    like($head // '', qr{^HTTP/1\.1 200 }, 'chunked request body');
    like($body // '', qr/"name": "chunky"/, '... was read whole');

    print $s "POST /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: $auth\r\nExpect: 100-continue\r\n"
        . 'Content-Length: ' . length($json) . "\r\n\r\n";
    my $sel = IO::Select->new($s);
    my $interim = '';
    sysread($s, $interim, 4096) if $sel->can_read(2);
    like($interim, qr{^HTTP/1\.1 100 }, 'Expect: 100-continue answered at once');
    print $s $json;
    ($head) = read_response($s);
    like($head // '', qr{^HTTP/1\.1 200 }, 'then the request completes');

    print $s "TRACE /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n\r\n";
    ($head, $body) = read_response($s);
    like($head // '', qr{^HTTP/1\.1 501 .*^Content-Type: application/json}ms,
        'an unsupported method gets a JSON error');
    like($body // '', qr/"requestId"/, '... in the platform shape');
    $s = connect_to($sim->port);
    $sel = IO::Select->new($s);

    print $s "GET /elements/api-v2/instances HTTP/1.0\r\nAuthorization: $auth\r\n\r\n";
    ($head) = read_response($s);
    like($head // '', qr{^HTTP/1\.1 200 }, 'HTTP/1.0 request answered');
    my $more = '';
    ok($sel->can_read(2) && !sysread($s, $more, 10), '... and the connection closed');
}

# ---- concurrency ------------------------------------------------------------------------

{
    $sim->reset;
    $sim->fault(endpoint => 'GET /instances', delay => 0.5, count => 50);
    my @socks = map { connect_to($sim->port) } 1 .. 50;
    my $t0 = time;
    print $_ "GET /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: $auth\r\nConnection: close\r\n\r\n" for @socks;
    my $ok = grep { my ($h) = read_response($_); ($h // '') =~ m{^HTTP/1\.1 200 } } @socks;
    my $took = time - $t0;
    is($ok, 50, '50 concurrent requests all answered');
    cmp_ok($took, '<', 5, sprintf('in parallel (%.2fs for 50 x 0.5s)', $took));
    is($sim->count('GET /instances'), 50, 'all 50 counted');
}

# ---- TLS ---------------------------------------------------------------------------------

SKIP: {
    skip 'no openssl binary', 6 unless -x '/usr/bin/openssl';
    skip 'HTTP::Tiny has no SSL support here', 6 unless HTTP::Tiny->can_ssl;
    my ($cert, $key) = ("$dir/cert.pem", "$dir/key.pem");
    my $req = "/usr/bin/openssl req -x509 -nodes -days 1 -subj /CN=127.0.0.1"
        . " -keyout $key -out $cert >/dev/null 2>&1";
    system("$req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1") == 0
        or system("$req -newkey rsa:2048") == 0
        or skip 'cannot make a certificate', 6;
    my $tls = OCSim->start(tls_cert => $cert, tls_key => $key);
    like($tls->ready_line, qr{^ocsim ready on https://127\.0\.0\.1:\d+$},
        'TLS ready line says https');
    like($tls->base_url, qr{^https://}, 'base_url is https');
    is($tls->health->{ok}, JSON::PP::true, 'control over TLS');
    my $inst = $tls->seed_instance(name => 'tls');
    is($tls->api(GET => '/hubs/crm/ping', undef, element => $inst->{token})
        ->{status}, 200, 'hub call over TLS');
    my $url = $tls->api(GET => '/elements/pipedrive/oauth/url?apiKey=k'
        . '&apiSecret=s&callbackUrl=https://cb')->{json}{oauthUrl};
    like($url, qr{^https://127\.0\.0\.1:}, 'oauth url uses the https base');
    my $plain = HTTP::Tiny->new(timeout => 3)->get(
        'http://127.0.0.1:' . $tls->port . '/_sim/health');
    isnt($plain->{status}, 200, 'plain HTTP to the TLS port fails');
}

done_testing;
