#!/usr/bin/perl

# A Retry-After longer than a request may wait: the resolution fails at
# once and is tried again only then; requests get 503 at once with a
# Retry-After near it, instead of waiting oc_wait_timeout each.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use OCTest;
use OCConf;

my $t = OCTest->new;
my $sim = $t->sim;
$sim->fault(endpoint => 'GET /elements/{key}/instances', count => 10,
            status => 429,
            headers => { 'Retry-After' => '100' });
$t->write_conf(oc_conf(http => "oc_api_timeout 1s;\n    oc_api_retries 2;"
                               . "\n    oc_wait_timeout 6s;"))->run;

my $start = time;
my $r = http_get('/crm/contacts', timeout => 10);
my $took = time - $start;

like($r, qr/^HTTP\/1\.1 503 /, '429 with Retry-After 100: 503');
cmp_ok($took, '<', 4, 'answered without waiting out oc_wait_timeout');
cmp_ok(http_header($r, 'Retry-After') // 0, '>=', 60,
       'Retry-After of the 503 is at least 60');
is($sim->count('GET /elements/{key}/instances'), 1,
   'not retried within the wait');
ok($t->grep_log(qr/\[error\].*/
                . qr/GET \/elements\/\{key\}\/instances by tag answered 429/),
   'the failure is logged');

# later requests: refused at once, no new call before the Retry-After
like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 503 /, 'next request: 503');
is($sim->count('GET /elements/{key}/instances'), 1,
   'next request: no new call');

$t->stop;

done_testing;
