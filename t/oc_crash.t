#!/usr/bin/perl

# Crashes, reloads and stops in the middle of a resolution: a SIGKILLed
# resolver is replaced and leaves no lock held, old workers leave promptly
# on reload and the new ones finish the job, a graceful stop does not wait
# for a transfer.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;

sub resolver_pid {
    my ($t) = @_;
    my $end = time + 5;
    while (time < $end) {
        my ($line) = reverse $t->grep_log(qr/oc_instance "pd": resolving/);
        return $1 if $line && $line =~ /\[info\] (\d+)#/;
        sleep 0.05;
    }
    return undef;
}

# SIGKILL of the resolving worker
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                delay => 3);
    $t->write_conf(oc_conf(workers => 2))->run;
    $t->expect_log(qr/exited on signal 9/);

    my $pid = resolver_pid($t);
    ok($pid, 'kill: found the resolving worker');
    kill 'KILL', $pid;

    my $start = time;
    my $r = http_get('/crm/contacts', timeout => 10);
    like($r, qr/ 200 /, 'kill: the request succeeds');
    cmp_ok(time - $start, '<', 5, 'kill: taken over promptly');
    ok($t->grep_log(qr/worker process $pid exited on signal 9/),
       'kill: the worker was killed');
    is($sim->count('POST /instances'), 1, 'kill: one instance created');

    # the shared zone's lock is free: both workers keep answering
    my $ok = grep { http_get('/crm/contacts') =~ / 200 / } 1 .. 20;
    is($ok, 20, 'kill: no lock left held');
    $t->stop;
}

# reload while a resolution is delayed
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                delay => 5);
    $t->write_conf(oc_conf(workers => 2))->run;

    ok(resolver_pid($t), 'reload: resolution under way');
    my @old = $t->worker_pids;

    my $start = time;
    $t->reload;
    my $took = time - $start;
    cmp_ok($took, '<', 2, sprintf 'reload: old workers gone in %.2f s',
                                  $took);
    ok(!(grep { kill 0, $_ } @old), 'reload: no old worker left');

    like(http_get('/crm/contacts', timeout => 10), qr/ 200 /,
         'reload: the new workers finish the job');
    is(scalar(grep { !$_->{deleted} } @{ $sim->instances }), 1,
       'reload: one instance');
    $t->stop;
}

# graceful stop with a transfer in flight
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                delay => 5);
    $t->write_conf(oc_conf())->run;

    ok(resolver_pid($t), 'stop: resolution under way');
    my $start = time;
    $t->stop;
    cmp_ok(time - $start, '<', 2, 'stop: nginx exits without waiting');
}

done_testing;
