package OCBrowser;

# A real headless Chromium, driven through chromedriver's WebDriver HTTP
# interface with core Perl only.  Started on loopback, stopped with the
# object (and at END) by the process that started it.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

our $CHROMIUM = '/usr/bin/chromium';
our $DRIVER = '/usr/bin/chromedriver';

my $JSON = JSON::PP->new->utf8->canonical;
my $ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
my %LIVE;

sub available { -x $CHROMIUM && -x $DRIVER }

sub start {
    my ($class, %opt) = @_;

    my $port = $opt{port} or croak 'start: port needed';
    my $self = bless { owner => $$, port => $port,
                       http => HTTP::Tiny->new(timeout => 30) }, $class;

    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        { exec $DRIVER, "--port=$port", '--allowed-ips=127.0.0.1' }
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{$pid} = $self;

    my $end = time + 15;
    until ($self->_ready) {
        if (time > $end) {
            $self->stop;
            croak 'chromedriver did not start';
        }
        sleep 0.1;
    }

    my $profile = tempdir('oc-chromium-XXXXXXXX', TMPDIR => 1,
                          CLEANUP => 1);

    # no background traffic: this machine has no network but loopback
    my @args = qw(--headless --no-sandbox --disable-gpu --disable-quic
                  --disable-dev-shm-usage --no-first-run
                  --disable-background-networking --disable-component-update
                  --disable-sync --disable-extensions);
    push @args, "--user-data-dir=$profile";

    my $r = $self->_call(POST => '/session', {
        capabilities => { alwaysMatch => {
            browserName => 'chrome',
            'goog:chromeOptions' => { binary => $CHROMIUM, args => \@args },
        } },
    });
    $self->{session} = $r->{sessionId}
        or croak 'no WebDriver session: ' . $JSON->encode($r);

    return $self;
}

sub _ready {
    my ($self) = @_;
    my $r = $self->{http}->get("http://127.0.0.1:$self->{port}/status");
    return $r->{success};
}

sub _call {
    my ($self, $method, $path, $body) = @_;
    my $r = $self->{http}->request($method,
        "http://127.0.0.1:$self->{port}$path",
        defined $body ? { content => $JSON->encode($body),
                          headers => { 'Content-Type' => 'application/json' } }
                      : {});
    my $json = eval { $JSON->decode($r->{content}) } // {};
    croak "WebDriver $method $path: $r->{status} $r->{content}"
        unless $r->{success};
    return exists $json->{value} && ref $json->{value} eq 'HASH'
           && !exists $json->{sessionId} ? $json->{value}
         : exists $json->{value} ? $json->{value} : $json;
}

sub _s { "/session/$_[0]{session}" }

sub go      { $_[0]->_call(POST => $_[0]->_s . '/url', { url => $_[1] }); 1 }
sub url     { $_[0]->_call(GET => $_[0]->_s . '/url') }
sub title   { $_[0]->_call(GET => $_[0]->_s . '/title') }
sub source  { $_[0]->_call(GET => $_[0]->_s . '/source') }

sub click {
    my ($self, $css) = @_;
    my $el = $self->_call(POST => $self->_s . '/element',
                          { using => 'css selector', value => $css });
    $self->_call(POST => $self->_s . "/element/$el->{$ELEMENT}/click", {});
    return 1;
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $self->{owner} == $$;

    eval { $self->_call(DELETE => $self->_s) } if $self->{session};
    delete $self->{session};

    kill 'TERM', $self->{pid};
    my $end = time + 5;
    while (waitpid($self->{pid}, WNOHANG) == 0) {
        if (time > $end) {
            kill 'KILL', $self->{pid};
            waitpid($self->{pid}, 0);
            last;
        }
        sleep 0.05;
    }

    delete $LIVE{ $self->{pid} };
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

END { $_->stop for grep { defined } values %LIVE }

1;
