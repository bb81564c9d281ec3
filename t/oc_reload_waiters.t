#!/usr/bin/perl

# A reload while requests wait for the token: the retired worker hands its
# resolution over to the new one, and its waiting requests are served as
# soon as the new worker publishes the token, not when their own wait (or
# the old worker's slow call) ends.

use strict;
use warnings;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCTest qw(port);
use OCConf;

my $N = 18;

my $t = OCTest->new;
my $sim = $t->sim;

# the old worker's lookup hangs for 6 s; the new worker's is instant
$sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
            delay => 6);
$t->write_conf(oc_conf(http => "oc_api_timeout 8s;\n    oc_wait_timeout 10s;"))
  ->run;

my @old = $t->worker_pids;
sleep 0.3;

my @s;
for (1 .. $N) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => port(8080), Proto => 'tcp')
        or die "connect: $!";
    print {$s} "GET /crm/contacts HTTP/1.0\r\nHost: localhost\r\n\r\n";
    push @s, $s;
}

sleep 0.5;
my $hup = time;
kill 'HUP', $t->master_pid or die "HUP: $!";

# read every answer
my %buf;
my $sel = IO::Select->new(@s);
my $end = time + 12;
my $last = 0;
while ($sel->count && time < $end) {
    for my $s ($sel->can_read(0.2)) {
        my $n = sysread($s, $buf{$s}, 65536, length($buf{$s} // ''));
        next if $n;
        $sel->remove($s);
        $last = time;
    }
}

my @ok = grep { ($buf{$_} // '') =~ /^HTTP\/1\.1 200 / } @s;
is(scalar @ok, $N, "all $N waiting requests served");
cmp_ok($last - $hup, '<', 4,
       'served before the old worker\'s own lookup could have returned');
ok($t->grep_log(qr/handing the resolution over to the new worker/),
   'the old worker handed over');
is($sim->count('POST /instances'), 1, 'one instance created');

my ($created) = $t->grep_log(qr/created instance \d+ "acme-crm"/);
my ($pid) = ($created // '') =~ /\s(\d+)#\d+:/;
ok($pid && !grep({ $_ == $pid } @old), 'created by a new worker');

$t->stop;

done_testing;
