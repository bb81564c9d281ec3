#!/usr/bin/perl

# Single flight and the event loop: 200 requests at a cold start make one
# lookup and one POST across two workers; a slow Open Connectors never
# blocks other locations; three nginx hosts started at once converge on one
# instance.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OCTest;
use OCConf;
use OCMany;

# 200 concurrent requests at a cold start, two workers
{
    my $t = OCTest->new;
    my $sim = $t->sim;

    # hold the first lookup so that every request arrives while it runs
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                delay => 1.5);

    $t->write_conf(oc_conf(workers => 2))->run;

    my @r = http_many(200, '/crm/contacts', timeout => 30);
    my $ok = grep { /^HTTP\/1\.1 200 / } @r;
    is($ok, 200, 'cold start: all 200 requests succeed');
    is($sim->count('POST /instances'), 1, 'cold start: one POST /instances');
    is($sim->count('GET /elements/{key}/instances'), 3,
       'cold start: one tag search, one scan, one look after creating');
    is($sim->count('GET /hubs/contacts'), 200, 'cold start: 200 hub calls');

    my @inst = @{ $sim->instances };
    is(scalar @inst, 1, 'cold start: one instance');
    my %tokens = map { ($_->{authorization} =~ /Element (\S+)$/)[0] => 1 }
                 grep { $_->{endpoint} eq 'GET /hubs/contacts' }
                 @{ $sim->calls };
    is_deeply([keys %tokens], [$inst[0]{token}], 'cold start: one token');
    $t->stop;
}

# a resolution in progress never blocks the worker
{
    my $t = OCTest->new;
    my $sim = $t->sim;

    $t->write_conf(oc_conf(workers => 1))->run;
    like(http_get('/crm/contacts'), qr/ 200 /, 'slow: warm');

    # a new token is needed, and Open Connectors takes 3 s to answer
    $sim->rotate($sim->instances->[0]{id});
    $sim->fault(endpoint => 'GET /instances/{id}', count => 1, delay => 3);
    like(http_get('/crm/contacts'), qr/ 401 /, 'slow: 401 with old token');

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = http_get('/crm/contacts', timeout => 10);
        POSIX::_exit($r =~ / 200 / ? 0 : 1);
    }

    sleep 0.3;

    my ($worst, $all) = (0, 1);
    for (1 .. 10) {
        my $start = time;
        $all &&= http_get('/ping') =~ /pong/;
        my $took = time - $start;
        $worst = $took if $took > $worst;
    }
    ok($all, 'slow: plain location answers while resolving');
    cmp_ok($worst, '<', 0.1, 'slow: within 100 ms each');
    note(sprintf 'slowest /ping during resolution: %.1f ms', $worst * 1000);

    waitpid($pid, 0);
    is($? >> 8, 0, 'slow: the waiting request succeeds with the new token');
    is($sim->count('POST /instances'), 1, 'slow: no new instance');
    $t->stop;
}

# three hosts started at once against one empty account
{
    my @t = map { OCTest->new } 1 .. 3;
    my $sim = $t[0]->sim;

    # every host looks before any has created: the creations are held
    # longer than the three starts take (about 2 s each under valgrind)
    my $hold = $OCTest::SLOW ** 2;
    $sim->fault(endpoint => 'POST /instances', count => 3, delay => $hold);

    for my $i (0 .. 2) {
        $t[$i]->{sims} = [$sim];
        $t[$i]->write_conf(oc_conf(port => 8081 + $i))->run;
    }

    sleep 3 * $hold;
    is($sim->count('POST /instances'), 3, 'three hosts: each created one');

    my @mine = grep { $_->{name} eq 'acme-crm' && !$_->{deleted} }
               @{ $sim->instances };
    is(scalar @mine, 1, 'three hosts: one instance left');

    for my $i (0 .. 2) {
        like(http_get('/crm/contacts', port => 8081 + $i),
             qr/ 200 /, "three hosts: host $i proxies");
        is(hub_token($sim), $mine[0]{token}, "three hosts: host $i token");
    }

    $_->stop for @t;
}

done_testing;
