package OCMany;

# Many concurrent requests from one process: every request is sent on its
# own connection before any answer is read, so they all reach nginx at once.

use strict;
use warnings;

use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(time);

use Exporter qw(import);
our @EXPORT = qw(http_many);

# http_many($n, $uri, port => N, timeout => s, headers => "...")
#   -> list of raw responses ('' for a connection that got no answer)
sub http_many {
    my ($n, $uri, %opt) = @_;

    my $port = $opt{port} // OCTest::port(8080);
    my $deadline = time + ($opt{timeout} // 30);
    my $req = "GET $uri HTTP/1.0\r\nHost: localhost\r\n"
        . ($opt{headers} // '') . "\r\n";

    my (@socks, %buf, %idx);
    local $SIG{PIPE} = 'IGNORE';

    for my $i (0 .. $n - 1) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp')
            or next;
        syswrite($s, $req);
        $s->blocking(0);
        push @socks, $s;
        $idx{"$s"} = $i;
        $buf{"$s"} = '';
    }

    my $sel = IO::Select->new(@socks);

    while ($sel->count) {
        my $left = $deadline - time;
        last if $left <= 0;
        for my $s ($sel->can_read($left)) {
            my $n = sysread($s, $buf{"$s"}, 65536, length $buf{"$s"});
            next if !defined $n && ($!{EAGAIN} || $!{EINTR});
            if (!$n) {
                $sel->remove($s);
                close $s;
            }
        }
    }

    my @out = ('') x $n;
    $out[$idx{$_}] = $buf{$_} for keys %buf;
    return @out;
}

1;
