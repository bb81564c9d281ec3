#!/usr/bin/perl

# Failing closed: an unreachable or refusing Open Connectors gives 503 with
# Retry-After and a JSON body, one error line with Open Connectors' message
# and requestId, back-off instead of a call per request, and recovery
# without a reload.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use lib 't/lib';
use OCTest;
use OCConf;

# timeouts: the request gets 503 within oc_api_timeout, then recovers
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                delay => 3);

    $t->write_conf(oc_conf(http => "oc_api_timeout 1s;\n"
                                   . "oc_api_retries 0;"))->run;

    my $start = time;
    my $r = http_get('/crm/contacts');
    my $took = time - $start;

    like($r, qr/^HTTP\/1\.1 503 /, 'timeout: 503');
    like(http_header($r, 'Retry-After'), qr/^\d+$/, 'timeout: Retry-After');
    cmp_ok($took, '<', 1.8, 'timeout: answered within oc_api_timeout');
    my $body = decode_json(http_body($r));
    is($body->{instance}, 'pd', 'timeout: body names the instance');
    like($body->{reason}, qr/timed out|Timeout/i, 'timeout: body gives reason');
    is(http_header($r, 'Content-Type'), 'application/json',
       'timeout: JSON body');

    # back-off: requests meanwhile make no call
    http_get('/crm/contacts') for 1 .. 20;
    is($sim->count('GET /elements/{key}/instances'), 1,
       'back-off: no call per request');

    sleep 1.5;
    like(http_get('/crm/contacts'), qr/ 200 /, 'recovered without a reload');
    ok($t->grep_log(qr/\[error\].*oc_instance "pd": /
                    . qr/GET \/elements\/pipedrive\/instances failed/),
       'timeout: logged');
    $t->stop;
}

# a 400 from POST /instances: the message names the missing keys
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'POST /instances', count => 1, status => 400,
                body => '{"requestId":"req-4711","message":'
                        . '"Missing required configuration: '
                        . 'pipedrive.email, pipedrive.password"}',
                headers => { 'Content-Type' => 'application/json' });

    $t->write_conf(oc_conf())->run;

    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, '400: 503 to the client, no retry');
    like(http_header($r, 'Retry-After'), qr/^[1-9]\d*$/, '400: Retry-After');
    like(http_body($r), qr/pipedrive\.email, pipedrive\.password/,
         '400: reason in the body');

    my @l = $t->grep_log(qr/\[error\].*Missing required configuration: /
                         . qr/pipedrive\.email, pipedrive\.password.*/
                         . qr/requestId: req-4711/);
    ok(scalar @l, '400: log names the keys and the requestId');
    is($sim->count('POST /instances'), 1, '400: one POST');

    sleep 1.5;
    like(http_get('/crm/contacts'), qr/ 200 /, '400: later success');
    is($sim->count('POST /instances'), 2, '400: one more POST after back-off');
    $t->stop;
}

# a wrong User secret: 401 from Open Connectors, unauthorized, back-off
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(oc_conf(http => 'oc_api_retries 0;')
                   =~ s/oc_user_secret\s+%%OC_USER_SECRET%%/oc_user_secret wrong-secret/r)
      ->run;

    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, 'wrong secret: 503');
    like(http_body($r), qr/answered 401/, 'wrong secret: reason');
    http_get('/crm/contacts') for 1 .. 10;
    is($sim->count('GET /elements/{key}/instances'), 1,
       'wrong secret: no call per request');
    is($sim->count('POST /instances'), 0, 'wrong secret: no POST');
    unlike($t->error_log, qr/wrong-secret/, 'wrong secret: not logged');
    $t->stop;
}

# unreachable: connection refused
{
    my $t = OCTest->new;
    my $port = OCTest::port(8089);
    $t->write_conf(oc_conf(api_url => "http://127.0.0.1:$port/elements/api-v2",
                           http => "oc_api_timeout 2s;\n"
                                   . "oc_api_retries 0;"))->run;

    my $start = time;
    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, 'refused: 503');
    cmp_ok(time - $start, '<', 2, 'refused: fast');
    ok($t->grep_log(qr/\[error\].*/
                    . qr/GET \/elements\/pipedrive\/instances failed: .*onnect/),
       'refused: logged');
    $t->stop;
}

done_testing;
