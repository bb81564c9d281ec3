package OCApp;

# A recording application to put behind nginx in tests: an HTTP server on
# 127.0.0.1, in a child process, that keeps every request it gets (request
# line, headers, raw body) as files in a directory and answers 200 "ok", or
# the status NNN when the path ends in /status/NNN.  One request per
# connection.  Core Perl only.  The server is stopped by stop(), by DESTROY
# and by an END block, and only ever by the process that started it.

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

my %LIVE;    # pid => weak ref to the object that started it

my $IO_TIMEOUT = 30;    # seconds a client may take to send a request

# start(dir => DIR, port => PORT): DIR defaults to a temporary directory,
# PORT to any free one
sub start {
    my ($class, %opt) = @_;

    my $dir = $opt{dir} // tempdir('oc-app-XXXXXXXX', TMPDIR => 1,
                                   CLEANUP => 1);
    make_path($dir);

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => $opt{port} // 0,
                                       Listen => 128, ReuseAddr => 1,
                                       Proto => 'tcp')
        or croak "OCApp: listen: $!";

    my $self = bless { owner => $$, dir => $dir, port => $listen->sockport },
                     $class;

    my $parent = $$;
    my $pid = fork // croak "OCApp: fork: $!";

    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        _serve($listen, $dir, $parent);
        POSIX::_exit(0);
    }

    close $listen;
    $self->{pid} = $pid;
    $LIVE{$pid} = $self;
    weaken($LIVE{$pid});

    return $self;
}

sub port     { $_[0]{port} }
sub dir      { $_[0]{dir} }
sub base_url { 'http://127.0.0.1:' . $_[0]{port} }

# every request received so far, in order:
#   { method, uri, head (raw), headers => { lowercase name => [values] },
#     body (raw bytes) }
sub requests {
    my ($self) = @_;

    opendir(my $dh, $self->{dir}) or croak "OCApp: $self->{dir}: $!";
    my @n = sort { $a <=> $b } map { /^(\d+)\.head$/ ? $1 : () } readdir $dh;
    closedir $dh;

    return map { $self->_request($_) } @n;
}

sub count { scalar(my @r = $_[0]->requests) }

sub last_request { ($_[0]->requests)[-1] }

sub _request {
    my ($self, $n) = @_;

    my $head = _slurp("$self->{dir}/$n.head");
    my $body = _slurp("$self->{dir}/$n.body");
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $uri) = split / /, $line;

    my %headers;
    for (@lines) {
        my ($name, $value) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $headers{lc $name} }, $value;
    }

    return { method => $method, uri => $uri, head => $head,
             headers => \%headers, body => $body };
}

sub stop {
    my ($self) = @_;
    return undef unless $self->{pid} && $$ == $self->{owner};

    my $pid = delete $self->{pid};
    delete $LIVE{$pid};

    local ($?, $!);
    kill 'TERM', $pid;

    my $deadline = time + 5;
    while (time < $deadline) {
        my $got = waitpid($pid, WNOHANG);
        return 1 if $got == $pid || $got == -1;
        sleep 0.02;
    }

    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 1;
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop;
}

END {
    local $?;
    $_->stop for grep { defined } values %LIVE;
}


# ---- the server (child process) ---------------------------------------------

sub _serve {
    my ($listen, $dir, $parent) = @_;

    my $sel = IO::Select->new($listen);
    my $n = 0;

    while (1) {
        POSIX::_exit(0) if getppid() != $parent;
        next unless $sel->can_read(0.5);

        my $c = $listen->accept or next;
        $n++;
        eval { _one($c, $dir, $n) };
        close $c;
    }
}

sub _one {
    my ($c, $dir, $n) = @_;

    my $deadline = time + $IO_TIMEOUT;
    my $buf = '';

    until ($buf =~ /\r\n\r\n/) {
        _read($c, \$buf, $deadline) or return;
    }

    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    my $body = $rest;

    if ($head =~ /^Transfer-Encoding:[ \t]*chunked/mi) {
        $body = _chunked($c, $rest, $deadline) // return;

    } else {
        my ($len) = $head =~ /^Content-Length:[ \t]*(\d+)/mi;
        $len //= 0;
        while (length $body < $len) {
            _read($c, \$body, $deadline) or return;
        }
        $body = substr($body, 0, $len);
    }

    _write("$dir/$n.body", $body);
    _write("$dir/$n.head.tmp", $head);
    rename "$dir/$n.head.tmp", "$dir/$n.head" or die "rename: $!";

    my ($uri) = $head =~ m{^\S+ (\S+)};
    my $status = $uri =~ m{/status/(\d{3})(?:\?|$)} ? $1 : 200;

    my $out = "HTTP/1.0 $status Recorded\r\nContent-Type: text/plain\r\n"
              . "Content-Length: 3\r\nConnection: close\r\n\r\nok\n";

    $c->blocking(1);
    print {$c} $out;
}

sub _read {
    my ($c, $buf, $deadline) = @_;

    my $sel = IO::Select->new($c);
    my $left = $deadline - time;
    return 0 if $left <= 0 || !$sel->can_read($left);

    my $got = sysread($c, $$buf, 65536, length $$buf);
    return $got ? 1 : 0;
}

sub _chunked {
    my ($c, $data, $deadline) = @_;
    my $body = '';

    while (1) {
        until ($data =~ /\A([0-9a-fA-F]+)[^\r\n]*\r\n/) {
            _read($c, \$data, $deadline) or return undef;
        }
        my ($size, $skip) = (hex $1, $+[0]);
        until (length $data >= $skip + $size + 2) {
            _read($c, \$data, $deadline) or return undef;
        }
        return $body if $size == 0;
        $body .= substr($data, $skip, $size);
        substr($data, 0, $skip + $size + 2) = '';
    }
}

sub _write {
    my ($path, $data) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    binmode $fh;
    print {$fh} $data;
    close $fh or die "$path: $!";
}

sub _slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    binmode $fh;
    local $/;
    my $s = <$fh>;
    return $s // '';
}

1;
