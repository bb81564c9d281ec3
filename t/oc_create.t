#!/usr/bin/perl

# Creates are never repeated blindly: a POST /instances that times out
# while Open Connectors still creates the instance is followed by a look,
# not a second POST; when a second POST was made after all, the surplus
# instance nginx made (its digest tag) is deleted.  Exactly one is left.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;

my $HTTP = "oc_api_timeout 1s;\n    oc_api_retries 1;\n    oc_wait_timeout 8s;";

sub ours {
    my ($sim) = @_;
    return grep { $_->{name} eq "acme-crm" && !$_->{deleted} }
           @{ $sim->instances };
}

sub settle {
    my ($sim, $want, $secs) = @_;
    my $end = time + $secs;
    my @i;
    while (1) {
        @i = ours($sim);
        return scalar @i if @i == $want || time > $end;
        sleep 0.2;
    }
}

# the create lands 2.5 s after the POST, 1.5 s after nginx gave up on it
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'POST /instances', count => 1, delay => 2.5);
    $t->write_conf(oc_conf(http => $HTTP))->run;

    like(http_get('/crm/contacts', timeout => 12), qr/^HTTP\/1\.1 200 /,
         'slow create: the request is served');
    is($sim->count('POST /instances'), 1, 'slow create: one POST');
    is(scalar(ours($sim)), 1, 'slow create: one instance');
    ok($t->grep_log(qr/\[warn\].*POST \/instances failed: .*looking again/),
       'slow create: the look is logged');
    sleep 1.5;
    is(scalar(ours($sim)), 1, 'slow create: still one instance');
    $t->stop;
}

# the create lands after nginx looked and created another: one is deleted
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'POST /instances', count => 1, delay => 6);
    $t->write_conf(oc_conf(http => $HTTP))->run;

    # the look finds nothing: 503 until the next resolution creates one
    my $end = time + 10;
    my $ok;
    until ($ok = http_get('/crm/contacts') =~ /^HTTP\/1\.1 200 /) {
        last if time > $end;
        sleep 0.3;
    }
    ok($ok, 'very slow create: requests are served');
    is($sim->count('POST /instances'), 2, 'very slow create: a second POST');
    sleep 1 while ours($sim) < 2 && time < $end + 4;
    is(settle($sim, 1, 12), 1, 'very slow create: one instance in the end');
    ok($t->grep_log(qr/deleted surplus instance \d+ that nginx made/),
       'very slow create: the surplus deletion is logged');
    is($sim->count('DELETE /instances/{id}'), 1,
       'very slow create: one DELETE');

    my ($inst) = ours($sim);
    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 200 /,
         'very slow create: served with the one left');
    is(hub_token($sim), $inst->{token}, 'very slow create: its token');
    is($sim->count('POST /instances'), 2, 'very slow create: no more POSTs');
    $t->stop;
}

done_testing;
