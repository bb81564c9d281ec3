#!/usr/bin/perl

# Every fault the simulator can inject, on every Open Connectors call that
# decides whether a request gets a token: transient ones are retried
# oc_api_retries times, the others are not; the client gets 503 with
# Retry-After; the module recovers once the fault is gone.  Also the
# back-off bound across a 5-second outage.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;
use OCMany;

my $HTTP = "oc_api_timeout 1s;\n    oc_api_retries 1;";

my $LIST = '[{"id":99,"name":"acme-crm","element":{"key":"pipedrive"},'
    . '"tags":[]%s}]';

my %kind = (
    500       => [2, status => 500],
    429       => [2, status => 429, headers => { 'Retry-After' => '1' }],
    close     => [2, close => 1],
    truncated => [2, body => 'truncated'],
    timeout   => [2, delay => 2],
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

for my $case (@cases) {
    my ($endpoint, $name) = @$case;
    my ($calls, %fault) = @{ $kind{$name} };
    my $what = "$endpoint $name";

    # a dropped POST may have created the instance: looked for, not retried
    $calls = 1 if $endpoint eq 'POST /instances' && $name eq 'close';

    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(http => $HTTP . ($name eq 'toobig'
                                            ? "\n    oc_api_max_body 1k;"
                                            : '')));

    if ($endpoint eq 'GET /instances/{id}') {
        $t->run;
        like(http_get('/crm/contacts'), qr/ 200 /, "$what: warm");
        $sim->rotate($sim->instances->[0]{id});
        $sim->reset;
        $sim->fault(endpoint => $endpoint, count => 10, %fault);
        like(http_get('/crm/contacts'), qr/ 401 /, "$what: 401");

    } else {
        $sim->fault(endpoint => $endpoint, count => 10, %fault);
        $t->run;
    }

    my $r = http_get('/crm/contacts', timeout => 10);
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

    ok($t->grep_log(qr/\[error\].*oc_instance "pd": /), "$what: logged");

    $sim->clear_faults;

    my $end = time + 8;
    my $ok;
    until ($ok = http_get('/crm/contacts') =~ / 200 /) {
        last if time > $end;
        sleep 0.2;
    }
    ok($ok, "$what: recovered once the fault is gone");

    $t->stop;
}

# a reconcile that fails keeps the token: requests go on
for my $f ([close => close => 1], [500 => status => 500],
           [401 => status => 401], [403 => status => 403])
{
    my ($name, %fault) = @$f;
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $inst = $sim->seed_instance(name => 'acme-crm', auth => 'emailPassword',
                                   config => { 'pipedrive.email' => 'a@b',
                                               'pipedrive.password' => 'x' });
    $sim->fault(endpoint => 'PATCH /instances/{id}', count => 10, %fault);
    $t->write_conf(oc_conf(http => $HTTP))->run;

    like(http_get('/crm/contacts', timeout => 10), qr/ 200 /,
         "PATCH $name: request served with the found token");
    is(hub_token($sim), $inst->{token}, "PATCH $name: its token");
    ok($t->grep_log(qr/\[warn\].*PATCH \/instances\/$inst->{id}.*/
                    . qr/, the token stays in use$/),
       "PATCH $name: logged as a warning, requests are not refused");
    like(http_get('/crm/contacts', timeout => 10), qr/ 200 /,
         "PATCH $name: the next request too");

    $sim->clear_faults;
    my $end = time + 8;
    my $applied;
    until ($applied = grep { /^ngx-oc-digest-v2:/ }
                      @{ $sim->instances->[0]{tags} // [] })
    {
        last if time > $end;
        sleep 0.2;
    }
    ok($applied, "PATCH $name: applied after the back-off");
    $t->stop;
}

# back-off: 1,000 requests during a 5-second outage
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1000,
                status => 500);
    $t->write_conf(oc_conf(workers => 2,
                           http => "oc_api_retries 1;"))->run;

    my $start = time;
    my %st;
    for my $batch (1 .. 20) {
        $st{ (/^HTTP\/1\.1 (\d+)/)[0] // 'none' }++
            for http_many(50, '/crm/contacts');
        my $next = $start + $batch * 0.25;
        sleep($next - time) if $next > time;
    }

    is($st{503}, 1000, 'outage: 1,000 requests refused with 503')
        or diag explain \%st;

    # attempts start at 0 s and then after back-offs of at least 0.75,
    # 1.5 and 3 s (1, 2, 4 s less a quarter of jitter): at most 4 attempts
    # in 5 s, each one call plus one retry
    my $calls = $sim->count('GET /elements/{key}/instances');
    cmp_ok($calls, '<=', 8, "outage: $calls calls, at most 8 allowed");
    cmp_ok($calls, '>=', 2, 'outage: it kept trying');

    $sim->clear_faults;
    my $end = time + 10;
    my $ok;
    until ($ok = http_get('/crm/contacts') =~ / 200 /) {
        last if time > $end;
        sleep 0.2;
    }
    ok($ok, 'outage: recovered');
    $t->stop;
}

done_testing;
