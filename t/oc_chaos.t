# The chaos run (bench/chaos) for 30 seconds with a fixed seed: traffic,
# with a tenant family among the blocks, faults, reloads, kills and
# simulator restarts, and no invariant broken.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use IO::Select;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

my $root = File::Spec->rel2abs(File::Spec->catdir(dirname(__FILE__),
                                                  File::Spec->updir));
my $chaos = "$root/bench/chaos";

plan skip_all => 'OC_TEST_VALGRIND: the chaos run is not run under valgrind'
    if $ENV{OC_TEST_VALGRIND};

# the schedule puts every kind of chaos event first, so 30 seconds see
# each of them; only the invariants decide, not the throughput
local $ENV{DURATION} = '30s';
local $ENV{SEED} = $ENV{OC_CHAOS_SEED} // 16016;
local $ENV{RATE} = $ENV{OC_CHAOS_RATE} // 200;
local $ENV{CLIENTS} = 6;
local $ENV{SETTLE} = 60;

# the whole run is bounded: 30 s of chaos, at most 60 s to settle, 5 s
# quiet, start and stop
my $limit = 180;

pipe(my $r, my $w) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    close $r;
    open(STDOUT, '>&', $w) or POSIX::_exit(127);
    open(STDERR, '>&', $w) or POSIX::_exit(127);
    setpgrp(0, 0);
    exec { $chaos } $chaos or POSIX::_exit(127);
}
close $w;

# a Ctrl-C of the test stops the run (it stops what it started)
local $SIG{INT} = local $SIG{TERM} = sub { kill 'TERM', $pid; };

my ($out, $status) = ('', undef);
my $sel = IO::Select->new($r);
my $deadline = time + $limit;
while (1) {
    if ($sel->can_read(0.2)) {
        my $n = sysread($r, $out, 65536, length $out);
        $sel->remove($r) unless $n;
    }
    if (waitpid($pid, WNOHANG) == $pid) {
        $status = $? >> 8;
        last;
    }
    if (time > $deadline) {
        kill 'TERM', $pid;
        my $until = time + 15;
        sleep 0.1 while waitpid($pid, WNOHANG) == 0 && time < $until;
        kill 'KILL', -$pid if waitpid($pid, WNOHANG) == 0;
        waitpid($pid, 0);
        last;
    }
}
1 while $sel->count && $sel->can_read(0)
        && sysread($r, $out, 65536, length $out);
close $r;

ok(defined $status, "the run ended within ${limit}s") or diag($out);
is($status, 0, 'the run exits 0: no violation') or diag($out);

my ($violations) = $out =~ /^\s+violations\s+(\d+)$/m;
is($violations, 0, 'the summary counts 0 violations');

my ($requests) = $out =~ /^\s+requests\s+(\d+)/m;
ok(($requests // 0) > 0, 'clients sent requests');

my ($upstream, $app) = $out
    =~ /^\s+upstream requests\s+(\d+); application captures (\d+)/m;
ok(($upstream // 0) > 0, 'requests reached the upstream');
ok(($app // 0) > 0, 'error_page redirects reached the application');

my ($events) = $out =~ /^\s+chaos events\s+(.*)$/m;
for my $kind (qw(fault rotate delete disable duplicate reload kill
                 sim_restart))
{
    like($events // '', qr/\b$kind:[1-9]/, "chaos event $kind happened");
}

like($out, qr/^\s+settled\s+[\d.]+s after the chaos/m,
     'every instance was ready after the chaos');

# the family: its tenants connected and ready at the end, requests served
# and refused (the invariants on each are the run's own)
my ($connected, $ready) = $out
    =~ /^\s+family\s+(\d+) tenants connected \((\d+) ready at the end\)/m;
ok(($connected // 0) > 0, 'family: tenants connected');
is($ready, $connected, 'family: every connected tenant ready at the end');
my ($served, $unknown, $invalid) = $out
    =~ /^\s+family\ requests\s+(\d+)\ served;\ not\ connected:\ (\d+)\ of
        \ unknown\ .*;\ (\d+)\ invalid\ tenants\ refused$/mx;
ok(($served // 0) > 0, 'family: requests served');
ok(($unknown // 0) > 0, 'family: unknown tenants refused as not connected');
ok(($invalid // 0) > 0, 'family: invalid tenant values refused');
like($out, qr/^\s+seed\s+\Q$ENV{SEED}\E$/m, 'the summary names the seed');

done_testing;
