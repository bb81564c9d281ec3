package OCTest;

# The nginx test harness: a private prefix per test, nginx.conf from a
# template, the system's nginx loading the freshly built module on loopback
# ports, raw HTTP helpers, and after every test file a check that the error
# log holds no [alert], [emerg] or sanitizer report.  Core Perl only.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Test::More ();
use Time::HiRes qw(sleep time);

use Exporter qw(import);

our @EXPORT = qw(http_get http_post http http_status http_header http_body);
our @EXPORT_OK = qw(port log_problems);

our $NGINX = $ENV{OC_TEST_NGINX} || '/usr/sbin/nginx';
our $MODULE = $ENV{OC_TEST_MODULE}
    || File::Spec->catfile(dirname(dirname(dirname(abs_path(__FILE__)))),
                           'build', 'ngx_oc_module.so');

# OC_TEST_STATIC: the module is built into OC_TEST_NGINX (--add-module),
# and %%LOAD_MODULE%% becomes nothing
our $STATIC = $ENV{OC_TEST_STATIC} ? 1 : 0;

# Under valgrind (make test-valgrind) every nginx process shows valgrind's
# command line in /proc, not the title nginx gives it, and runs many times
# slower: OC_TEST_VALGRIND counts every child of the master as a worker,
# OC_TEST_SLOW multiplies the harness's own waits.
our $VALGRIND = $ENV{OC_TEST_VALGRIND} ? 1 : 0;
our $SLOW = ($ENV{OC_TEST_SLOW} // '') =~ /^[1-9]\d*$/ ? $ENV{OC_TEST_SLOW}
                                                       : 1;

our $WAIT = 10 * $SLOW;         # seconds: start, reload, quit

my $LOG_LEVEL = $ENV{OC_TEST_LOG_LEVEL} // 'info';

# what %%OC_*%% and %%SIM_URL%% become when no simulator runs
my %NO_SIM = (
    OC_API_URL     => 'http://127.0.0.1:9/elements/api-v2',
    SIM_URL        => 'http://127.0.0.1:9',
    OC_USER_SECRET => 'test-user-secret',
    OC_ORG_SECRET  => 'test-org-secret',
);

my %PORTS;      # "8080" => { port => 41234, lock => udp socket }
my @STATES;     # per object: what the end-of-file check needs
my %LIVE;       # refaddr => weak ref to every object, to stop at END
my $CHECKED;    # the end-of-file check has run
my $RESERVED;   # $t->plan counted the check in the plan
my $LOAD_PID = $$;


# ---- the object ------------------------------------------------------------

sub new {
    my ($class, %opt) = @_;

    Test::More::BAIL_OUT("no nginx binary at $NGINX") unless -x $NGINX;
    Test::More::BAIL_OUT("no module at $MODULE: run make first")
        unless $STATIC || -f $MODULE;

    my $dir = tempdir('oc-test-XXXXXXXX', TMPDIR => 1);
    chmod 0755, $dir or croak "chmod $dir: $!";

    my $state = {
        pid     => $$,
        testdir => $dir,
        started => 0,
        expect  => [],
    };
    push @STATES, $state;

    my $self = bless { state => $state, sims => [] }, $class;
    $LIVE{"$self"} = $self;
    weaken($LIVE{"$self"});

    _install_signal_handlers();

    return $self;
}

sub testdir   { $_[0]{state}{testdir} }
sub conf_file { $_[0]->testdir . '/nginx.conf' }

sub write_file {
    my ($self, $name, $content, %opt) = @_;

    my $path = $name =~ m{^/} ? $name : $self->testdir . "/$name";
    make_path(dirname($path), { mode => 0755 });

    open(my $fh, '>', $path) or croak "cannot write $path: $!";
    binmode $fh;
    print {$fh} $content;
    close $fh or croak "cannot write $path: $!";
    chmod $opt{mode} // 0644, $path;

    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : $self->testdir . "/$name";
    return _slurp($path);
}

sub sim {
    my ($self, %opt) = @_;

    require OCSim;
    my $sim = OCSim->start(%opt);
    push @{ $self->{sims} }, $sim;

    return $sim;
}

sub port {
    my $key = pop;

    return $PORTS{$key}{port} if exists $PORTS{$key};

    # Ports below the ephemeral range, so that no outgoing connection (say,
    # nginx's to the simulator) and no bind to port 0 can take one before
    # nginx listens on it; each is held by a UDP socket on the same number,
    # so another test file running in parallel skips it too.
    my ($low) = split ' ', _slurp('/proc/sys/net/ipv4/ip_local_port_range')
                           // '';
    my @range = ($low // 0) > 20000 ? (10000, $low - 1) : ();

    for my $try (1 .. 100) {
        my $want = @range && $try <= 90
                   ? $range[0] + int(rand($range[1] - $range[0] + 1)) : 0;

        my $tcp = IO::Socket::INET->new(Proto => 'tcp',
                                        LocalAddr => '127.0.0.1',
                                        LocalPort => $want, Listen => 1)
            or next;
        my $port = $tcp->sockport;
        my $lock = IO::Socket::INET->new(Proto => 'udp',
                                         LocalAddr => '127.0.0.1',
                                         LocalPort => $port)
            or next;
        close $tcp;

        $PORTS{$key} = { port => $port, lock => $lock };
        return $port;
    }

    croak "no free port for $key";
}

sub test_globals {
    my ($self) = @_;
    my $dir = $self->testdir;

    return "pid $dir/nginx.pid;\n"
        . "error_log $dir/error.log $LOG_LEVEL;\n"
        . "daemon on;\n"
        . ($ENV{OC_TEST_GLOBALS} // '');
}

sub test_globals_http {
    my ($self) = @_;
    my $dir = $self->testdir;

    return "access_log $dir/access.log;\n"
        . join('', map { "${_}_temp_path $dir/${_}_temp;\n" }
                       qw(client_body proxy fastcgi uwsgi scgi))
        . ($ENV{OC_TEST_GLOBALS_HTTP} // '');
}

sub write_conf {
    my ($self, $conf) = @_;

    my $sim = $self->{sims}[-1];
    my %var = $sim ? (OC_API_URL     => $sim->api_url,
                      SIM_URL        => $sim->base_url,
                      OC_USER_SECRET => $sim->user_secret,
                      OC_ORG_SECRET  => $sim->org_secret)
                   : %NO_SIM;
    $var{LOAD_MODULE} = $STATIC ? '' : "load_module $MODULE;";
    $var{TEST_GLOBALS} = $self->test_globals;
    $var{TEST_GLOBALS_HTTP} = $self->test_globals_http;
    $var{TESTDIR} = $self->testdir;

    $self->{globals} = $conf =~ /%%TEST_GLOBALS%%/;

    # the TCP ports nginx itself listens on, to wait for at start
    $self->{listen} = [ map { /%%PORT_(\d+)%%/ && !/\budp\b/ ? $1 : () }
                        $conf =~ /\blisten\s+([^;]*)/g ];

    $conf =~ s/%%PORT_(\d+)%%/port($1)/ge;
    $conf =~ s/%%([A-Z][A-Z0-9_]*)%%/exists $var{$1} ? $var{$1} : "%%$1%%"/ge;

    if ($conf =~ /(%%[A-Z][A-Z0-9_]*%%)/) {
        croak "write_conf: unknown placeholder $1";
    }

    $self->write_file('nginx.conf', $conf);
    return $self;
}


# ---- running nginx ---------------------------------------------------------

sub run {
    my ($self) = @_;
    my $dir = $self->testdir;

    croak 'run: nginx is already running' if $self->{master};
    croak 'run: write_conf first' unless -f $self->conf_file;

    unlink "$dir/nginx.pid";
    $self->{state}{started} = 1;

    my @cmd = ($NGINX, '-p', "$dir/", '-c', $self->conf_file,
               '-e', "$dir/error.log");
    push @cmd, '-g', "pid $dir/nginx.pid; error_log $dir/error.log $LOG_LEVEL;"
        unless $self->{globals};

    my ($rc, $out) = _run_cmd($WAIT, "$dir/nginx.stderr", @cmd);
    $self->_fail_start($rc < 0 ? "nginx did not return within ${WAIT}s"
                               : "nginx exited with $rc", $out)
        if $rc != 0;

    my $deadline = time + $WAIT;
    my $master;

    until ($master) {
        my $pid = _slurp("$dir/nginx.pid") // '';
        $master = $1 if $pid =~ /^(\d+)\s*$/ && _alive($1);
        last if $master;
        $self->_fail_start('no pid file') if time > $deadline;
        sleep 0.02;
    }

    $self->{master} = $master;

    $self->_wait_listen($deadline, sub { $self->_fail_start($_[0]) });

    my $want = $self->_want_workers;
    until ($self->worker_pids >= $want) {
        $self->_fail_start('workers did not start') if time > $deadline;
        sleep 0.02;
    }

    return $self;
}

# how many workers the configuration asks for ("auto": at least one)
sub _want_workers {
    my ($self) = @_;
    my $conf = _slurp($self->conf_file) // '';

    return 0 if $conf =~ /^\s*master_process\s+off\s*;/m;
    return $conf =~ /^\s*worker_processes\s+(\d+)\s*;/m ? $1 : 1;
}

sub _fail_start {
    my ($self, $why, $out) = @_;

    my $master = delete $self->{master};
    _kill_tree($master) if $master;

    my @tail = (split /\n/, $self->error_log)[-20 .. -1];
    my $msg = "nginx did not start: $why\n";
    $msg .= $out if defined $out && length $out;
    $msg .= join("\n", '--- error.log:', grep { defined } @tail) . "\n";

    die $msg;
}

sub test_config {
    my ($self) = @_;
    my $dir = $self->testdir;
    my $conf_file = $self->conf_file;

    croak 'test_config: write_conf first' unless -f $conf_file;

    # nginx -t opens the configured error log and truncates the pid file:
    # test a copy that points both elsewhere, so that nothing reaches
    # error.log and a running nginx keeps its pid file.  The copy sits next
    # to nginx.conf, so relative includes resolve alike, and keeps its line
    # numbers; its name is put back in the output.
    my $conf = _slurp($conf_file);
    $conf =~ s{\Q$dir\E/error\.log\b}{$dir/test_config.log}g;
    $conf =~ s{\Q$dir\E/nginx\.pid\b}{$dir/test_config.pid}g;
    my $test_file = $self->write_file('.nginx-t.conf', $conf);

    my ($rc, $out) = _run_cmd($WAIT, undef, $NGINX, '-t', '-p', "$dir/",
                              '-c', $test_file,
                              '-e', "$dir/test_config.log");
    $out =~ s/\Q$test_file\E/$conf_file/g;

    return ($rc, $out);
}

sub reload {
    my ($self) = @_;
    my $master = $self->{master} or croak 'reload: nginx is not running';

    die "reload: nginx master $master is gone\n" unless $self->_ours($master);

    my @old = $self->worker_pids;
    my $offset = (-s $self->testdir . '/error.log') // 0;

    kill 'HUP', $master or die "reload: kill HUP $master: $!\n";

    my $deadline = time + $WAIT;

    while (1) {
        die "reload: nginx master $master exited\n" unless _alive($master);

        my $log = substr($self->error_log, $offset);
        if (my @emerg = $log =~ /^(.*\[emerg\].*)$/mg) {
            die "reload failed:\n" . join("\n", @emerg) . "\n";
        }

        my %old = map { $_ => 1 } @old;
        my @new = grep { !$old{$_} } $self->worker_pids;
        last if @new >= $self->_want_workers && !grep { _alive($_) } @old;

        die "reload: old workers did not exit within ${WAIT}s: "
            . join(' ', grep { _alive($_) } @old) . "\n"
            if time > $deadline;

        sleep 0.02;
    }

    $self->_wait_listen($deadline, sub { die "reload: $_[0]\n" });

    return $self;
}

sub _wait_listen {
    my ($self, $deadline, $fail) = @_;

    for my $key (@{ $self->{listen} }) {
        until (_listening(port($key))) {
            $fail->('port ' . port($key) . " ($key) not listening")
                if time > $deadline;
            sleep 0.02;
        }
    }
}

sub stop {
    my ($self) = @_;

    return $self unless $self->{state}{pid} == $$;

    if (my $master = delete $self->{master}) {
        my %seen = map { $_ => 1 } _children($master),
                                   keys %{ delete $self->{seen} || {} };
        my @workers = keys %seen;

        # a pid that outlived its nginx may be another process's by now
        kill 'QUIT', $master if $self->_ours($master);

        unless (_wait_gone($WAIT, $master)) {
            Test::More::diag("nginx $master did not quit within ${WAIT}s,"
                             . ' terminating');
            kill 'TERM', $master;
            unless (_wait_gone(3, $master)) {
                kill 'KILL', $master;
                _wait_gone(3, $master);
            }
        }

        # workers of a master that died abnormally are left orphaned
        my @left = grep { _orphan_worker($_) } @workers;
        kill 'KILL', @left if @left;
        _wait_gone(3, @left);
    }

    while (my $sim = shift @{ $self->{sims} }) {
        $sim->stop;
    }

    return $self;
}

sub master_pid { $_[0]{master} }

sub worker_pids {
    my ($self) = @_;
    return () unless $self->{master};

    my @pids = sort { $a <=> $b }
               grep { $VALGRIND || _cmdline($_) eq 'nginx: worker process' }
               _children($self->{master});
    $self->{seen}{$_} = 1 for @pids;

    return @pids;
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop;
}


# ---- the error log ---------------------------------------------------------

sub error_log {
    my ($self) = @_;
    return _slurp($self->testdir . '/error.log') // '';
}

sub grep_log {
    my ($self, $re) = @_;
    return grep { $_ =~ $re } split /\n/, $self->error_log;
}

sub expect_log {
    my ($self, $re) = @_;
    push @{ $self->{state}{expect} }, $re;
    return $self;
}

# The lines of an error log that the end-of-file check objects to.
sub log_problems {
    my ($log, @expect) = @_;

    return grep {
        my $line = $_;
        ($line =~ /\[(?:alert|emerg)\]/ || $line =~ /\w+Sanitizer/)
            && !grep { $line =~ $_ } @expect
    } split /\n/, $log // '';
}

# Reserves one test in a fixed plan for the end-of-file check.
sub plan {
    my ($self, $n) = @_;
    $RESERVED = 1;
    Test::More::plan(tests => $n + 1);
    return $self;
}

sub _final_check {
    return if $CHECKED || $$ != $LOAD_PID;

    _stop_all();

    my $tb = Test::More->builder;
    my @states = grep { $_->{pid} == $$ && $_->{started} } @STATES;

    return unless @states || $RESERVED;
    return unless $tb->current_test > 0 || $RESERVED;

    $CHECKED = 1;

    my @problems;
    for my $s (@states) {
        # nginx.stderr: what nginx printed before its log was open; its
        # [emerg] lines are in error.log too
        my $log = (_slurp("$s->{testdir}/error.log") // '')
                  . join('', grep { /Sanitizer/ }
                      split /^/, _slurp("$s->{testdir}/nginx.stderr") // '');
        push @problems, map { "$s->{testdir}: $_" }
                        log_problems($log, @{ $s->{expect} });
    }

    # a fixed plan that did not reserve the check only hears of failures
    return if !@problems && $tb->expected_tests && !$RESERVED;

    Test::More::ok(!@problems, 'no alerts, emergencies or sanitizer reports'
                               . ' in error.log')
        or Test::More::diag(join "\n", @problems);
}

sub _stop_all {
    for my $t (grep { defined } values %LIVE) {
        $t->stop;
    }
}

sub _cleanup {
    for my $s (grep { $_->{pid} == $$ } @STATES) {
        next unless -d $s->{testdir};
        if ($ENV{OC_TEST_KEEP}) {
            Test::More::diag("kept $s->{testdir}");
        } else {
            remove_tree($s->{testdir});
        }
    }
}

if (eval { require Test2::API; 1 }) {
    Test2::API::test2_add_callback_testing_done(\&_final_check);
}

END {
    local $?;
    _final_check();
    _cleanup();
}

my $handlers_installed;

sub _install_signal_handlers {
    return if $handlers_installed++;

    # let END stop nginx when the test is interrupted
    for my $sig (qw(INT TERM HUP)) {
        next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
        $SIG{$sig} = sub { Test::More::diag("caught SIG$sig"); exit 1 };
    }
}


# ---- processes -------------------------------------------------------------

sub _slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

# alive and not a zombie
sub _alive {
    my ($pid) = @_;
    my $stat = _slurp("/proc/$pid/stat") // return 0;
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/s && $1 ne 'Z' && $1 ne 'X';
}

sub _children {
    my ($ppid) = @_;
    my @kids;

    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        my $stat = _slurp("/proc/$pid/stat") // next;
        next unless $stat =~ /^\d+ \(.*\) ([A-Za-z]) (\d+) /s;
        push @kids, $pid + 0 if $2 == $ppid && $1 ne 'Z' && $1 ne 'X';
    }

    return @kids;
}

sub _ppid {
    my ($pid) = @_;
    my $stat = _slurp("/proc/$pid/stat") // return 0;
    return $stat =~ /^\d+ \(.*\) [A-Za-z] (\d+) /s ? $1 : 0;
}

# the master this object started, still running
sub _ours {
    my ($self, $pid) = @_;
    return _alive($pid)
           && index(_cmdline($pid), ' -p ' . $self->testdir . '/ ') >= 0;
}

# an nginx worker whose master has gone
sub _orphan_worker {
    my ($pid) = @_;
    return _alive($pid)
           && ($VALGRIND
               ? _cmdline($pid) ne _cmdline(_ppid($pid))
                 && index(_cmdline($pid), ' -p ') >= 0
               : _cmdline($pid) =~ /^nginx: worker process/
                 && _cmdline(_ppid($pid)) !~ /^nginx: master process/);
}

sub _cmdline {
    my ($pid) = @_;
    my $cmd = _slurp("/proc/$pid/cmdline") // return '';
    $cmd =~ s/\0+$//;
    $cmd =~ s/\0/ /g;
    $cmd =~ s/\s+$//;
    return $cmd;
}

sub _wait_gone {
    my ($timeout, @pids) = @_;
    my $deadline = time + $timeout;

    while (grep { _alive($_) } @pids) {
        return 0 if time > $deadline;
        sleep 0.02;
    }

    return 1;
}

sub _kill_tree {
    my ($pid) = @_;
    my @kids = _children($pid);
    kill 'KILL', $pid, @kids;
    _wait_gone(3, $pid, @kids);
}

# Runs a command with stdin from /dev/null and stdout and stderr combined,
# copied to $log when given; returns its exit code (-1 on timeout) and
# output.
sub _run_cmd {
    my ($timeout, $log, @cmd) = @_;

    pipe(my $r, my $w) or croak "pipe: $!";

    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        close $r;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w);
        open(STDERR, '>&', $w);
        { exec { $cmd[0] } @cmd }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    close $w;

    # The daemonized nginx master keeps the pipe open, so read until the
    # command itself has exited rather than until end of file.
    my $out = '';
    my $sel = IO::Select->new($r);
    my $deadline = time + $timeout;
    my $status;

    while (1) {
        while ($sel->can_read(0.02)) {
            my $n = sysread($r, $out, 65536, length $out);
            last unless $n;
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            $status = $?;
            last;
        }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
    }
    while ($sel->can_read(0)) {
        my $n = sysread($r, $out, 65536, length $out);
        last unless $n;
    }
    close $r;

    if (defined $log && length $out && open(my $fh, '>>', $log)) {
        print {$fh} $out;
        close $fh;
    }

    return (defined $status ? $status >> 8 : -1, $out);
}

sub _listening {
    my ($port) = @_;
    my $found = 0;
    my $read = 0;

    my $hex = sprintf('%04X', $port);

    for my $file ('/proc/net/tcp', '/proc/net/tcp6') {
        my $table = _slurp($file) // next;
        $read++;
        # sl local_address rem_address st: state 0A is LISTEN
        $found ||= $table =~ /^\s*\d+:\s+[0-9A-F]+:$hex\s+\S+\s+0A\s/m;
    }

    return $found if $read;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return defined $s;
}


# ---- HTTP ------------------------------------------------------------------

sub _peer_port {
    my ($p) = @_;
    $p //= 8080;
    return exists $PORTS{$p} ? $PORTS{$p}{port} : $p;
}

sub http_get {
    my ($uri, %opt) = @_;
    return http(_request('GET', $uri, undef, %opt), %opt);
}

sub http_post {
    my ($uri, $body, %opt) = @_;
    return http(_request('POST', $uri, $body // '', %opt), %opt);
}

sub _request {
    my ($method, $uri, $body, %opt) = @_;
    my $headers = $opt{headers} // '';

    $headers .= "\r\n" if length $headers && $headers !~ /\n\z/;

    my $req = "$method $uri HTTP/1.0\r\n";
    $req .= "Host: localhost\r\n" unless $headers =~ /^Host:/mi;
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if defined $body && $headers !~ /^Content-Length:/mi;
    $req .= $headers . "\r\n";
    $req .= $body if defined $body;

    return $req;
}

sub http {
    my ($request, %opt) = @_;

    my $timeout = $opt{timeout} // 5;
    my $deadline = time + $timeout;
    my $port = _peer_port($opt{port});

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or return '';
    $s->blocking(0);

    local $SIG{PIPE} = 'IGNORE';

    my $sel = IO::Select->new($s);
    my $off = 0;

    while ($off < length $request) {
        my $left = $deadline - time;
        return '' if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($s, $request, 65536, $off);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            last;           # the server may answer before reading it all
        }
        $off += $n;
    }

    # On a connection the server keeps open, return after the first
    # complete response (so one request per call); otherwise read to the end.
    my ($req_head) = split /\r?\n\r?\n/, $request, 2;
    my $head_only = $req_head =~ /^HEAD /;
    my $keepalive = $req_head =~ m{^\S+ \S+ HTTP/1\.1\r?\n}
                    ? $req_head !~ /^Connection:[ \t]*close/mi
                    : $req_head =~ /^Connection:[ \t]*keep-alive/mi;
    my $buf = '';

    while (1) {
        my $left = $deadline - time;
        return '' if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!defined $n) {
            next if $!{EAGAIN} || $!{EINTR};
            last;
        }
        last if $n == 0;
        last if $keepalive && _complete($buf, $head_only);
    }

    close $s;
    return $buf;
}

# Splits a raw response into status, headers and raw body, past any
# interim 1xx responses.
sub _split {
    my ($r) = @_;

    while (defined $r
           && $r =~ m{\A(HTTP/\d\.\d (\d{3})[^\n]*\n(?:[^\r\n][^\n]*\n)*)\r?\n})
    {
        my ($head, $status) = ($1, $2);
        my $rest = substr($r, $+[0]);
        if ($status =~ /^1/ && $status != 101) {
            $r = $rest;
            next;
        }
        return ($status, $head, $rest);
    }

    return;
}

sub _header_value {
    my ($head, $name) = @_;
    return $head =~ /^\Q$name\E:[ \t]*(.*?)[ \t]*\r?$/mi ? $1 : undef;
}

# Decodes a chunked body: the data and whether the last chunk and the
# trailer section have arrived.
sub _dechunk {
    my ($body) = @_;
    my $out = '';

    while ($body =~ /\G([0-9a-fA-F]+)[^\r\n]*\r?\n/gc) {
        my $len = hex $1;
        my $pos = pos($body);

        if ($len == 0) {
            1 while $body =~ /\G[^\r\n][^\n]*\n/gc;
            return ($out, scalar $body =~ /\G\r?\n/gc);
        }

        if ($pos + $len > length $body) {
            return ($out . substr($body, $pos), 0);
        }

        $out .= substr($body, $pos, $len);
        pos($body) = $pos + $len;
        $body =~ /\G\r?\n/gc;
    }

    return ($out, 0);
}

sub _complete {
    my ($buf, $head_only) = @_;

    my ($status, $head, $body) = _split($buf) or return 0;
    return 1 if $head_only || $status == 204 || $status == 304;

    if ((_header_value($head, 'Transfer-Encoding') // '') =~ /chunked/i) {
        return (_dechunk($body))[1];
    }

    my $len = _header_value($head, 'Content-Length');
    return defined $len && length($body) >= $len;
}

sub http_status {
    my ($r) = @_;
    my ($status) = _split($r);
    return defined $status ? $status + 0 : undef;
}

sub http_header {
    my ($r, $name) = @_;
    my (undef, $head) = _split($r);
    return defined $head ? _header_value($head, $name) : undef;
}

sub http_body {
    my ($r) = @_;
    my ($status, $head, $body) = _split($r);

    return undef unless defined $status;

    if ((_header_value($head, 'Transfer-Encoding') // '') =~ /chunked/i) {
        return (_dechunk($body))[0];
    }

    my $len = _header_value($head, 'Content-Length');
    return defined $len ? substr($body, 0, $len) : $body;
}

1;
