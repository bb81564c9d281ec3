#!/usr/bin/perl

# Every fault the simulator can inject, on every Open Connectors call that
# decides whether a request gets a token: transient ones are retried
# oc_api_retries times, the others are not; the client gets 503 with
# Retry-After; the module recovers once the fault is gone.  Also the
# back-off bound across an outage.
#
# Recovery waits out the module's back-off (at least 0.75 s after a
# failure), and a simulator takes a second or more to start on a loaded
# machine.  So the cases share four simulators, each reset to nothing
# between its cases, and each case leaves its nginx running: its recovery
# is checked when its simulator comes round again, by when the back-off
# has passed, rather than waited for before the next case.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;
use OCMany;

# a call that hangs is given up after 500 ms, and the fault delays 1 s
my $HTTP = "oc_api_timeout 500ms;\n    oc_api_retries 1;";

my $LIST = '[{"id":99,"name":"acme-crm","element":{"key":"pipedrive"},'
    . '"tags":[]%s}]';

my %kind = (
    500       => [2, status => 500],
    429       => [2, status => 429, headers => { 'Retry-After' => '1' }],
    close     => [2, close => 1],
    truncated => [2, body => 'truncated'],
    timeout   => [2, delay => 1],
    malformed => [1, body => 'malformed'],
    ctype     => [1, body => '[]', headers => { 'Content-Type' => 'text/html' }],
    redirect  => [1, status => 302,
                  headers => { Location => 'http://127.0.0.1:9/' }],
    toobig    => [1, body => '[' . ('"x",' x 400) . '"x"]'],
    notoken   => [1, body => sprintf($LIST, '')],
    badtoken  => [1, body => sprintf($LIST, ',"token":"a b\r\nc"')],
    400       => [1, status => 400,
                  body => '{"requestId":"r-1","message":"bad request"}'],
);

my @cases = (
    (map { ['GET /elements/{key}/instances', $_] }
         qw(500 429 close truncated timeout malformed ctype redirect
            toobig notoken badtoken)),
    # a POST that times out is not repeated blindly (t/oc_create.t)
    (map { ['POST /instances', $_] } qw(500 close malformed 400)),
    (map { ['GET /instances/{id}', $_] } qw(500 close malformed)),
);

require OCSim;

# the simulators, and the recovery check each still owes: [what, check, t]
my @slots = map { { sim => OCSim->start, pending => undef } } 1 .. 4;
my $turn = 0;

# polls $cond every 50 ms for up to $secs seconds
sub wait_for {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    my $ok;
    until ($ok = $cond->()) {
        last if time > $end;
        sleep 0.05;
    }
    return $ok;
}

# the recovery check a simulator owes, then its case's nginx stops
sub settle {
    my ($slot) = @_;
    my $p = delete $slot->{pending} or return;
    my ($what, $check, $t) = @$p;
    ok(wait_for(10, $check), $what);
    $t->{sims} = [];    # the simulator goes on to the next case
    $t->stop;
}

# a test object on the next simulator, reset to an empty account
sub next_case {
    my $slot = $slots[$turn++ % @slots];
    settle($slot);
    $slot->{sim}->reset_all;
    my $t = OCTest->new;
    $t->{sims} = [ $slot->{sim} ];
    return ($t, $slot->{sim}, $slot);
}

# back-off: 500 requests during a 2.5-second outage
{
    my ($t, $sim, $slot) = next_case();
    my $port = 8099;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1000,
                status => 500);
    $t->write_conf(oc_conf(port => $port, workers => 2,
                           http => "oc_api_retries 1;"))->run;

    my $start = time;
    my %st;
    for my $batch (1 .. 10) {
        $st{ (/^HTTP\/1\.1 (\d+)/)[0] // 'none' }++
            for http_many(50, '/crm/contacts',
                         port => OCTest::port($port));
        my $next = $start + $batch * 0.25;
        sleep($next - time) if $next > time;
    }
    my $calls = $sim->count('GET /elements/{key}/instances');
    my $took = time - $start;

    is($st{503}, 500, 'outage: 500 requests refused with 503')
        or diag explain \%st;

    # attempts start at 0 s and then after back-offs of at least 0.75,
    # 1.5, 3 and 6 s (1, 2, 4, 8 s less a quarter of jitter), each one
    # call plus one retry: 3 attempts in the 2.5 s, more only if the
    # requests took longer than planned
    my $attempts = grep { $_ <= $took } 0, 0.75, 2.25, 5.25, 11.25;
    cmp_ok($calls, '<=', 2 * $attempts,
           sprintf('outage: %d calls in %.1f s, at most %d allowed',
                   $calls, $took, 2 * $attempts));
    cmp_ok($calls, '>=', 2, 'outage: it kept trying');

    $sim->clear_faults;
    $slot->{pending} = ['outage: recovered', sub {
        http_get('/crm/contacts', port => $port) =~ / 200 /
    }, $t];
}

my $n = 0;

for my $case (@cases) {
    my ($endpoint, $name) = @$case;
    my ($calls, %fault) = @{ $kind{$name} };
    my $what = "$endpoint $name";
    my $port = 8100 + $n++;

    # a dropped POST may have created the instance: looked for, not retried
    $calls = 1 if $endpoint eq 'POST /instances' && $name eq 'close';

    my ($t, $sim, $slot) = next_case();
    $t->write_conf(oc_conf(port => $port,
                           http => $HTTP . ($name eq 'toobig'
                                            ? "\n    oc_api_max_body 1k;"
                                            : '')));

    if ($endpoint eq 'GET /instances/{id}') {
        $t->run;
        like(http_get('/crm/contacts', port => $port), qr/ 200 /,
             "$what: warm");
        $sim->rotate($sim->instances->[0]{id});
        $sim->reset;
        $sim->fault(endpoint => $endpoint, count => 10, %fault);
        like(http_get('/crm/contacts', port => $port), qr/ 401 /,
             "$what: 401");

    } else {
        $sim->fault(endpoint => $endpoint, count => 10, %fault);
        $t->run;
    }

    my $r = http_get('/crm/contacts', port => $port, timeout => 10);
    like($r, qr/^HTTP\/1\.1 503 /, "$what: 503");
    like(http_header($r, 'Retry-After') // '', qr/^[1-9]\d*$/,
         "$what: Retry-After");
    is(scalar $t->grep_log(qr/\[warn\].*retrying in \d+ ms \(1 of 1\)/),
       $calls - 1, "$what: " . ($calls - 1) . ' retry');

    if ($name eq 'close') {
        # libcurl itself reconnects once when a reused connection closes
        # before answering; that is not a retry of the module's
        cmp_ok($sim->count($endpoint), '>=', $calls, "$what: calls");
        cmp_ok($sim->count($endpoint), '<=', 4, "$what: calls");

    } else {
        is($sim->count($endpoint), $calls, "$what: $calls call(s)");
    }

    if ($name eq '429') {
        my @t = map { $_->{time} }
                grep { $_->{endpoint} eq $endpoint } @{ $sim->calls };
        cmp_ok($t[1] - $t[0], '>=', 0.9, "$what: Retry-After honoured");
    }

    if ($name eq 'timeout') {
        ok($t->grep_log(qr/\[error\].*oc_instance "pd": .*timed out/i),
           "$what: logged as a timeout");
    }

    ok($t->grep_log(qr/\[error\].*oc_instance "pd": /), "$what: logged");

    $sim->clear_faults;
    $slot->{pending} = ["$what: recovered once the fault is gone", sub {
        http_get('/crm/contacts', port => $port) =~ / 200 /
    }, $t];
}

# a reconcile that fails keeps the token: requests go on
for my $f ([close => close => 1], [500 => status => 500],
           [401 => status => 401], [403 => status => 403])
{
    my ($name, %fault) = @$f;
    my $port = 8100 + $n++;
    my ($t, $sim, $slot) = next_case();
    my $inst = $sim->seed_instance(name => 'acme-crm', auth => 'emailPassword',
                                   config => { 'pipedrive.email' => 'a@b',
                                               'pipedrive.password' => 'x' });
    $sim->fault(endpoint => 'PATCH /instances/{id}', count => 10, %fault);
    $t->write_conf(oc_conf(port => $port, http => $HTTP))->run;

    like(http_get('/crm/contacts', port => $port, timeout => 10), qr/ 200 /,
         "PATCH $name: request served with the found token");
    is(hub_token($sim), $inst->{token}, "PATCH $name: its token");
    ok($t->grep_log(qr/\[warn\].*PATCH \/instances\/$inst->{id}.*/
                    . qr/, the token stays in use$/),
       "PATCH $name: logged as a warning, requests are not refused");
    like(http_get('/crm/contacts', port => $port, timeout => 10), qr/ 200 /,
         "PATCH $name: the next request too");

    $sim->clear_faults;
    $slot->{pending} = ["PATCH $name: applied after the back-off", sub {
        grep { /^ngx-oc-digest-v2:/ } @{ $sim->instances->[0]{tags} // [] }
    }, $t];
}

settle($_) for @slots;
$_->{sim}->stop for @slots;

done_testing;
