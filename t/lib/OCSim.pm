package OCSim;

# Start, drive and stop the Open Connectors simulator (t/sim/ocsim.py) from
# a test.  Core Perl only.  A simulator is stopped by stop(), by DESTROY and
# by an END block, and only ever by the process that started it.

use strict;
use warnings;

use Carp qw(croak);
use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use IO::Select;
use JSON::PP;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(sleep time);

our $PYTHON = $ENV{OCSIM_PYTHON} || '/usr/bin/python3';
our $SCRIPT = File::Spec->rel2abs(
    File::Spec->catfile(dirname(__FILE__), File::Spec->updir, 'sim',
                        'ocsim.py'));

my $JSON = JSON::PP->new->utf8->canonical;
my %LIVE;    # pid => weak ref to the object that started it

sub start {
    my ($class, %opt) = @_;

    my $self = bless {
        owner       => $$,
        user_secret => $opt{user_secret} // 'sim-user-secret',
        org_secret  => $opt{org_secret} // 'sim-org-secret',
    }, $class;

    my @cmd = ($PYTHON, $SCRIPT, '--listen', '127.0.0.1:' . ($opt{port} // 0),
               '--watch-parent',
               '--user-secret', $self->{user_secret},
               '--org-secret', $self->{org_secret});
    push @cmd, '--page-size', $opt{page_size} if defined $opt{page_size};
    push @cmd, '--max-page-size', $opt{max_page_size}
        if defined $opt{max_page_size};
    push @cmd, '--tls-cert', $opt{tls_cert}, '--tls-key', $opt{tls_key}
        if defined $opt{tls_cert};
    push @cmd, '--verbose' if $opt{verbose};
    # the chaos run's witness file and state kept across restarts
    push @cmd, '--witness', $opt{witness} if defined $opt{witness};
    push @cmd, '--state-file', $opt{state_file} if defined $opt{state_file};

    pipe(my $r, my $w) or croak "pipe: $!";
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    close $w;
    $self->{pid} = $pid;
    $LIVE{$pid} = $self;
    weaken($LIVE{$pid});

    my $line = _read_line($r, $opt{start_timeout} // 10);
    close $r;
    if (!defined $line
        || $line !~ m{^ocsim ready on (https?)://127\.0\.0\.1:(\d+)$})
    {
        $self->stop;
        croak 'simulator did not start: '
            . (defined $line ? "unexpected line '$line'" : 'no ready line');
    }
    @$self{qw(scheme port ready_line)} = ($1, $2, $line);
    return $self;
}

sub _read_line {
    my ($fh, $timeout) = @_;
    my $sel = IO::Select->new($fh);
    my $deadline = time + $timeout;
    my $buf = '';
    while ($buf !~ /\n/) {
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($fh, $buf, 4096, length $buf);
        return undef unless $n;
    }
    my ($line) = split /\n/, $buf;
    return $line;
}

sub pid         { $_[0]{pid} }
sub port        { $_[0]{port} }
sub ready_line  { $_[0]{ready_line} }
sub base_url    { "$_[0]{scheme}://127.0.0.1:$_[0]{port}" }
sub api_url     { $_[0]->base_url . '/elements/api-v2' }
sub user_secret { $_[0]{user_secret} }
sub org_secret  { $_[0]{org_secret} }

sub platform_auth {
    my ($self) = @_;
    return "User $self->{user_secret}, Organization $self->{org_secret}";
}

sub hub_auth {
    my ($self, $token) = @_;
    return $self->platform_auth . ", Element $token";
}

# ---- stopping -------------------------------------------------------------

# Returns the child's wait status ($?-style), or undef when there was
# nothing for this process to stop.
sub stop {
    my ($self) = @_;
    return undef unless $self->{pid} && $$ == $self->{owner};
    my $pid = delete $self->{pid};
    delete $LIVE{$pid};
    local ($?, $!);
    kill 'TERM', $pid;
    my $status = _reap($pid, 5);
    unless (defined $status) {
        kill 'KILL', $pid;
        $status = _reap($pid, 5);
    }
    $self->{exit_status} = $status;
    return $status;
}

sub _reap {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        my $got = waitpid($pid, WNOHANG);
        return $? if $got == $pid;
        return -1 if $got == -1;
        sleep 0.02;
    }
    return undef;
}

sub exit_status { $_[0]{exit_status} }

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->stop;
}

END {
    local $?;
    $_->stop for grep { defined } values %LIVE;
}

# ---- plain HTTP -----------------------------------------------------------

sub _http {
    my ($self) = @_;
    # One client per process: tests fork, and a keep-alive connection must
    # not be shared between parent and child.
    return $self->{http}{$$} //= HTTP::Tiny->new(
        timeout => 15, verify_SSL => 0, max_redirect => 0,
        agent => 'OCSim/1');
}

# request($method, $path_or_url, headers => {..}, content => $bytes,
#         max_redirect => n)
#   -> HTTP::Tiny's response plus json (decoded content, when it is JSON)
sub request {
    my ($self, $method, $url, %opt) = @_;
    $url = $self->base_url . $url unless $url =~ m{^https?://};
    my $http = $self->_http;
    if ($opt{max_redirect}) {
        $http = HTTP::Tiny->new(timeout => 15, verify_SSL => 0,
                                max_redirect => $opt{max_redirect});
    }
    my %args = (headers => $opt{headers} // {});
    $args{content} = $opt{content} if defined $opt{content};
    my $res = $http->request($method, $url, \%args);
    $res->{json} = eval { $JSON->decode($res->{content}) }
        if defined $res->{content} && length $res->{content};
    return $res;
}

# A platform (or, with element => $token, hub) call with the right
# Authorization header.  Options: element => token, auth => exact header
# value (undef: send none), headers => {...}, raw => 1 (body is a string),
# max_redirect as for request().  Note that HTTP::Tiny silently retries an
# idempotent request once when the connection breaks.
sub api {
    my ($self, $method, $path, $body, %opt) = @_;
    my %headers = %{ $opt{headers} // {} };
    my $auth = exists $opt{auth} ? $opt{auth}
             : defined $opt{element} ? $self->hub_auth($opt{element})
             : $self->platform_auth;
    $headers{Authorization} = $auth if defined $auth;
    my $content;
    if (defined $body) {
        $content = $opt{raw} ? $body : $JSON->encode($body);
        $headers{'Content-Type'} //= 'application/json';
    }
    my $url = $path =~ m{^https?://} ? $path : $self->api_url . $path;
    return $self->request($method, $url, headers => \%headers,
                          content => $content,
                          max_redirect => $opt{max_redirect});
}

# ---- control interface ----------------------------------------------------

sub control {
    my ($self, $method, $path, $body) = @_;
    my $res = $self->request($method, $path,
        defined $body ? (content => $JSON->encode($body),
                         headers => {'Content-Type' => 'application/json'})
                      : ());
    croak "simulator control $method $path: $res->{status} $res->{content}"
        unless $res->{success};
    return $res->{json};
}

sub health      { $_[0]->control(GET => '/_sim/health') }
sub calls       { $_[0]->control(GET => '/_sim/calls')->{calls} }
sub counts      { $_[0]->control(GET => '/_sim/calls')->{counts} }
sub count       { $_[0]->counts->{$_[1]} // 0 }
sub reset       { $_[0]->control(POST => '/_sim/reset'); 1 }
sub reset_all   { $_[0]->control(POST => '/_sim/reset?all=1'); 1 }
sub clear_faults { $_[0]->control(DELETE => '/_sim/fault'); 1 }
sub instances   { $_[0]->control(GET => '/_sim/instances') }
sub new_code    { $_[0]->control(POST => '/_sim/codes', defined $_[1] ? { account => $_[1] } : undef)->{code} }
sub inflight    { $_[0]->control(GET => '/_sim/inflight') }

# seconds added to every API call, until the next reset
sub latency {
    my ($self, $seconds) = @_;
    $self->control(POST => '/_sim/latency', { seconds => $seconds + 0 });
    return 1;
}

# seed_many($count, name => 'x-{n}', tags => [...], configuration => {...})
#   -> {first => id, last => id}
sub seed_many {
    my ($self, $count, %o) = @_;
    return $self->control(POST => '/_sim/instances/bulk',
                          { count => $count + 0, %o });
}

sub fault {
    my ($self, %f) = @_;
    $f{$_} += 0 for grep { defined $f{$_} } qw(count status delay);
    for my $k (grep { exists $f{$_} } qw(close reset)) {
        $f{$k} = $f{$k} ? JSON::PP::true : JSON::PP::false;
    }
    $self->control(POST => '/_sim/fault', \%f);
    return 1;
}

sub consent {
    my ($self, $auto) = @_;
    $self->control(POST => '/_sim/consent', { auto => $auto });
    return 1;
}

# seed_instance(name => .., auth => .., config => {..}, tags => [..],
#               element => 'pipedrive', disabled => 1, oauth_dead => 1)
sub seed_instance {
    my ($self, %o) = @_;
    my %config = %{ $o{config} // {} };
    $config{'authentication.type'} = $o{auth} if defined $o{auth};
    my %body = (element => { key => $o{element} // 'pipedrive' },
                configuration => \%config);
    $body{name} = $o{name} if defined $o{name};
    $body{tags} = $o{tags} if defined $o{tags};
    $body{$_} = JSON::PP::true for grep { $o{$_} } qw(disabled oauth_dead);
    return $self->control(POST => '/_sim/instances', \%body);
}

sub rotate {
    my ($self, $id) = @_;
    return $self->control(POST => "/_sim/instances/$id/rotate")->{token};
}

# send_event($instance_id, sign => 'good'|'none'|'bad', eventId => ..,
#            objectType => .., objectId => .., eventType => .., raw => {..},
#            body => 'raw' | body_base64 => '..', truncate => 1,
#            headers => {..})
#   -> { status, headers, body, sent => { url, eventId, signature,
#        webhookId, length, body_base64 } }: the simulator POSTs one event
#   notification to the instance's callback URL (t/sim/ocsim_events.py)
sub send_event {
    my ($self, $id, %o) = @_;
    $o{truncate} = $o{truncate} ? JSON::PP::true : JSON::PP::false
        if exists $o{truncate};
    return $self->control(POST => "/_sim/events/$id", \%o);
}

# every token the simulator issued: [{ token, hash, id, name }, ..]
# (needs --witness or --state-file)
sub tokens { $_[0]->control(GET => '/_sim/tokens')->{tokens} }

# stops the simulator at once with its state saved (--state-file)
sub shutdown {
    my ($self) = @_;
    eval { $self->control(POST => '/_sim/shutdown') };
    return $self->stop;
}

sub delete_instance { $_[0]->control(POST => "/_sim/instances/$_[1]/delete"); 1 }
sub disable         { $_[0]->control(POST => "/_sim/instances/$_[1]/disable"); 1 }
sub enable          { $_[0]->control(POST => "/_sim/instances/$_[1]/enable"); 1 }

1;
