#!/usr/bin/perl

# bench/client.pl [-H 'Name: value']... [--pads N,M,...] HOST:PORT PATH COUNT
#
# COUNT sequential GET requests on ONE keep-alive connection, each one sent
# after the previous answer was read in full; every answer must be a 200.
# bench/run uses it to drive the nginx that runs under callgrind, so that
# an exact, known number of requests falls inside the measured window and
# none of the client's own work is counted (only nginx runs under valgrind).
#
# -H adds a header to every request.  --pads makes request i also carry an
# "X-Pad" header of the i-th length of the list (cycling; 0: no X-Pad), so
# that the requests spread evenly over where nginx's request pool fills up.
# Prints the number of requests answered.  Core Perl only.

use strict;
use warnings;

use Getopt::Long qw(GetOptions);
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);

my (@headers, $pads);
GetOptions('H=s' => \@headers, 'pads=s' => \$pads) or usage();

my ($addr, $path, $count) = @ARGV;
usage() unless @ARGV == 3 && $count =~ /^\d+$/ && $path =~ m{^/}
                && !grep { !/^[\w-]+: [^\r\n]*$/ } @headers;

my @pads = defined $pads ? split(/,/, $pads) : (0);
usage() if !@pads || grep { !/^\d+$/ } @pads;

my $timeout = $ENV{CLIENT_TIMEOUT} // 60;    # seconds per answer

my $s = IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp',
                              Timeout => $timeout)
    or die "$0: connect $addr: $!\n";
setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
binmode $s;

# what wrk sends, so both measurements see the same request
my $head = "GET $path HTTP/1.1\r\nHost: $addr\r\n"
           . join('', map { "$_\r\n" } @headers);
my @req = map { $head . ($_ ? 'X-Pad: ' . ('p' x $_) . "\r\n" : '') . "\r\n" }
              @pads;
my $buf = '';

local $SIG{ALRM} = sub { die "$0: no answer within ${timeout}s\n" };

for my $i (1 .. $count) {
    my $req = $req[($i - 1) % @req];

    alarm $timeout;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        die "$0: write: $!\n" unless defined $n;
        $off += $n;
    }

    my $end;
    until (($end = index($buf, "\r\n\r\n")) >= 0) {
        fill();
    }

    my $h = substr($buf, 0, $end + 4, '');
    $h =~ m{^HTTP/1\.[01] (\d{3})}
        or die "$0: request $i: not an HTTP answer\n";
    my $status = $1;
    my ($len) = $h =~ /^Content-Length:\s*(\d+)\r$/mi;
    die "$0: request $i: no Content-Length\n" unless defined $len;

    fill() while length $buf < $len;
    substr($buf, 0, $len, '');

    die "$0: request $i to $path: status $status\n" unless $status eq '200';
    die "$0: request $i: the server closed the connection\n"
        if $h =~ /^Connection:\s*close\r$/mi && $i < $count;
}

alarm 0;
print "$count\n";

sub fill {
    my $n = sysread($s, $buf, 65536, length $buf);
    die "$0: read: $!\n" unless defined $n;
    die "$0: the server closed the connection\n" if $n == 0;
}

sub usage {
    die "usage: $0 [-H 'Name: value']... [--pads N,M,...] "
        . "HOST:PORT PATH COUNT\n";
}
