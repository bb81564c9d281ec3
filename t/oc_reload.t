#!/usr/bin/perl

# Reloads: an unchanged declaration costs no Open Connectors call and drops
# no request; a changed configuration value costs exactly one update of the
# same instance, also when the old workers are still running; the shared
# zone keeps the token across the reload.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;

my $t = OCTest->new;
my $sim = $t->sim;

$t->write_conf(oc_conf(workers => 2));
$t->run;

like(http_get('/crm/contacts'), qr/ 200 /, 'warm');
my ($inst) = @{ $sim->instances };
sleep 0.2;
$sim->reset;

# requests flow from a child during the reload, from before it starts to
# after the old workers are gone (the parent says when, with SIGUSR1)
pipe(my $rd, my $wr) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    close $rd;
    my ($ok, $bad, $done) = (0, 0, 0);
    local $SIG{USR1} = sub { $done = 1 };
    my $end = time + 10;
    until ($done || time > $end) {
        http_get('/crm/contacts') =~ /^HTTP\/1\.1 200 / ? $ok++ : $bad++;
    }
    print {$wr} "$ok $bad\n";
    close $wr;
    POSIX::_exit(0);
}
close $wr;

sleep 0.3;
my @old = $t->worker_pids;
$t->reload;
my $gone = time + 5;
sleep 0.02 while grep({ kill 0, $_ } @old) && time < $gone;
sleep 0.2;
kill 'USR1', $pid;

my ($ok, $bad) = split ' ', scalar <$rd>;
waitpid($pid, 0);

cmp_ok($ok, '>', 10, "requests during the reload: $ok");
is($bad, 0, 'unchanged reload: no failed request');

my %c = %{ $sim->counts };
delete $c{'GET /hubs/contacts'};
is_deeply(\%c, {}, 'unchanged reload: no Open Connectors call');

# a changed configuration value: one update, same instance
$t->write_conf(oc_conf(workers => 2,
                       config => { 'pipedrive.email' => 'ops@example.com',
                                   'pipedrive.password' => 'new-pass' }));
$sim->reset;
$t->reload;

my $deadline = time + 5;
sleep 0.1 while $sim->count('PATCH /instances/{id}') == 0 && time < $deadline;

like(http_get('/crm/contacts'), qr/ 200 /, 'changed: request ok');
is($sim->count('PATCH /instances/{id}'), 1, 'changed: one update call');
is($sim->count('POST /instances'), 0, 'changed: no new instance');
is($sim->count('PUT /instances/{id}'), 0, 'changed: no PUT');

my ($after) = @{ $sim->instances };
is($after->{id}, $inst->{id}, 'changed: same instance');
is($after->{configuration}{'pipedrive.password'}, 'new-pass',
   'changed: new value applied');
is(hub_token($sim), $inst->{token}, 'changed: same token used');

for (1 .. 5) {
    http_get('/crm/contacts');
}
is($sim->count('PATCH /instances/{id}'), 1, 'changed: still one update');

# the digest of what was applied lives with the instance: a full restart
# with the same declaration makes no write call
# (one simulator for the whole file, emptied between the parts: a start
# costs a second or more on a loaded machine)
$t->{sims} = [];
$t->stop;
$sim->reset_all;
$sim->seed_instance(name => 'acme-crm', auth => 'emailPassword',
                    config => $after->{configuration},
                    tags => $after->{tags});

my $t2 = OCTest->new;
$t2->{sims} = [$sim];
$t2->write_conf(oc_conf(port => 8081, workers => 2,
                        config => { 'pipedrive.email' => 'ops@example.com',
                                    'pipedrive.password' => 'new-pass' }))
   ->run;

like(http_get('/crm/contacts', port => 8081), qr/ 200 /, 'restart: ok');
is($sim->count('PATCH /instances/{id}'), 0, 'restart: no update call');
is($sim->count('POST /instances'), 0, 'restart: no create call');

$t2->{sims} = [];
$t2->stop;

# reload after reload with a changed value: the old workers, which run on
# for a moment next to the new ones, never write their older declaration
# back.  The master keeps them 100 ms; they would do it only if their
# one-second tick fell into that time, so the reloads sweep its phase.
my $t3 = OCTest->new;
my $sim3 = $sim;
$sim3->reset_all;
$t3->{sims} = [$sim3];
$t3->write_conf(oc_conf(port => 8082, workers => 2))->run;
like(http_get('/crm/contacts', port => 8082), qr/ 200 /, 'churn: warm');

my @writes;
my $last = time;
for my $n (1 .. 12) {
    $t3->write_conf(oc_conf(port => 8082, workers => 2,
                            config => { 'pipedrive.email' => 'ops@example.com',
                                        'pipedrive.password' => "pass-$n" }));
    my $at = $last + 0.66 + 0.03 * $n;
    sleep $at - time if $at > time;

    $sim3->reset;
    $t3->reload;
    $last = time;

    my $end = time + 5;
    sleep 0.05 while $sim3->count('PATCH /instances/{id}') == 0 && time < $end;
    sleep 0.2;

    push @writes, join ' ', map { $_->{body} =~ /"(pass-\d+|pd-password)"/ }
                            grep { $_->{endpoint} =~ /^(?:PATCH|PUT) / }
                            @{ $sim3->calls };
}

is_deeply(\@writes, [ map { "pass-$_" } 1 .. 12 ],
          'churn: each changed reload writes its own value once, '
          . 'never an older one') or diag explain \@writes;

$t3->stop;

done_testing;
