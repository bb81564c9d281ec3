# Simulator: injected faults (status, bodies, truncation, close, delay, headers).

use strict;
use warnings;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use OCSim;

my $sim = OCSim->start;
my $auth = $sim->platform_auth;

# One request on a fresh connection; returns (head, body, declared length)
# as received up to the server's close.
sub raw {
    my ($method, $path, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $sim->port, Timeout => 5) or die "connect: $!";
    $body //= '';
    print $s "$method /elements/api-v2$path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . "Authorization: $auth\r\nConnection: close\r\n"
        . "Content-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    my ($data, $sel) = ('', IO::Select->new($s));
    while ($sel->can_read(5)) {
        last unless sysread($s, $data, 65536, length $data);
    }
    my ($head, $rest) = split /\r\n\r\n/, $data, 2;
    my ($len) = ($head // '') =~ /^Content-Length:\s*(\d+)/mi;
    return ($head // '', $rest // '', $len);
}

sub ep_body {
    return { element => { key => 'pipedrive' }, name => $_[0],
             configuration => { 'pipedrive.email' => 'e',
                                'pipedrive.password' => 'p' } };
}

# ---- status ---------------------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', count => 2, status => 503);
my @st = map { $sim->api(GET => '/instances') } 1 .. 3;
is_deeply([ map { $_->{status} } @st ], [503, 503, 200],
    'status fault for the next 2 calls only');
ok($st[0]{json}{requestId} && $st[0]{json}{message},
    'status fault answers the JSON error shape');
is($sim->count('GET /instances'), 3, 'faulted calls are counted');

$sim->fault(endpoint => 'POST /instances', status => 500);
is($sim->api(POST => '/instances', ep_body('f1'))->{status}, 500,
    'status fault on POST');
is(scalar @{ $sim->instances }, 0, 'a status fault has no side effect');

# ---- bodies -------------------------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', body => 'malformed');
my $r = $sim->api(GET => '/instances');
is($r->{status}, 200, 'malformed: 200 by default');
ok(length $r->{content}, 'malformed: has a body');
ok(!eval { decode_json($r->{content}); 1 }, 'malformed: not JSON');

$sim->fault(endpoint => 'GET /instances', body => 'malformed', status => 502);
is($sim->api(GET => '/instances')->{status}, 502, 'malformed with a status');

$sim->fault(endpoint => 'GET /instances', body => 'empty');
$r = $sim->api(GET => '/instances');
is($r->{status}, 200, 'empty: 200');
is($r->{content}, '', 'empty: no body');
is($r->{headers}{'content-length'}, 0, 'empty: Content-Length 0');

$sim->fault(endpoint => 'GET /instances', body => 'upstream says no',
    status => 418, headers => { 'Content-Type' => 'text/plain' });
$r = $sim->api(GET => '/instances');
is($r->{status}, 418, 'literal body with a status');
is($r->{content}, 'upstream says no', 'literal body');
is($r->{headers}{'content-type'}, 'text/plain', 'Content-Type overridden');

# ---- headers -------------------------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', status => 429,
    headers => { 'Retry-After' => '7' });
$r = $sim->api(GET => '/instances');
is($r->{status}, 429, '429');
is($r->{headers}{'retry-after'}, 7, 'with Retry-After');

$sim->fault(endpoint => 'GET /instances', headers => { 'X-Extra' => 'yes' });
$r = $sim->api(GET => '/instances');
is($r->{status}, 200, 'headers-only fault keeps the normal answer');
is($r->{headers}{'x-extra'}, 'yes', 'plus the extra header');
is_deeply($r->{json}, [], 'normal body');

# ---- truncated ---------------------------------------------------------------------

$sim->fault(endpoint => 'POST /instances', body => 'truncated');
my ($head, $body, $len) = raw(POST => '/instances', encode_json(ep_body('t1')));
like($head, qr{^HTTP/1\.1 200 }, 'truncated: normal status line');
ok($len > length $body, "truncated: declared $len, got " . length $body);
ok(!eval { decode_json($body); 1 }, 'truncated: body cut');
is(scalar @{ $sim->instances }, 1, 'truncated: the call itself took effect');

$sim->fault(endpoint => 'GET /instances', body => 'truncated', status => 500);
($head, $body, $len) = raw(GET => '/instances');
like($head, qr{^HTTP/1\.1 500 }, 'truncated with a status');
ok($len > length $body, 'still cut');

# HTTP::Tiny retries an idempotent request once, so it needs two.
$sim->fault(endpoint => 'GET /instances', body => 'truncated', count => 2);
$r = $sim->api(GET => '/instances');
is($r->{status}, 599, 'HTTP::Tiny sees truncation as an error');

# ---- close ---------------------------------------------------------------------------

$sim->fault(endpoint => 'POST /instances', close => 1);
($head, $body) = raw(POST => '/instances', encode_json(ep_body('c1')));
is($head . $body, '', 'close: no answer at all');
is(scalar @{ $sim->instances }, 1, 'close: the call had no effect');

$sim->fault(endpoint => 'POST /instances', close => 1);
$r = $sim->api(POST => '/instances', ep_body('c2'));
is($r->{status}, 599, 'close: client error');
like($r->{content}, qr/closed|end of stream/i, 'close: connection closed');
is($sim->api(GET => '/instances')->{status}, 200, 'next call is fine');

# ---- delay ---------------------------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', delay => 0.4);
my $t0 = time;
$r = $sim->api(GET => '/instances');
my $took = time - $t0;
cmp_ok($took, '>=', 0.4, sprintf('delay honoured (%.2fs)', $took));
cmp_ok($took, '<', 3, 'but not much more');
is($r->{status}, 200, 'delay alone keeps the normal answer');

$sim->fault(endpoint => 'GET /instances', delay => 0.3, status => 504);
$t0 = time;
$r = $sim->api(GET => '/instances');
cmp_ok(time - $t0, '>=', 0.3, 'delay then status');
is($r->{status}, 504, 'status after the delay');

$sim->fault(endpoint => 'GET /instances', delay => 0.3, close => 1);
$t0 = time;
($head, $body) = raw(GET => '/instances');
cmp_ok(time - $t0, '>=', 0.3, 'delay then close');
is($head . $body, '', 'closed after the delay');

# ---- queues, wildcard, clearing ---------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', status => 500);
$sim->fault(endpoint => 'GET /instances', status => 502, count => 2);
$sim->fault(endpoint => 'GET /instances', body => 'empty');
is_deeply([ map { $sim->api(GET => '/instances')->{status} } 1 .. 5 ],
    [500, 502, 502, 200, 200], 'faults queue per endpoint, in order');
is($sim->api(GET => '/instances')->{status}, 200, 'queue drained');

my $tok = $sim->seed_instance(name => 'hub')->{token};
$sim->fault(endpoint => '*', status => 500, count => 3);
is($sim->api(GET => '/hubs/crm/contacts', undef, element => $tok)->{status},
    500, '"*": hub call');
is($sim->api(GET => '/instances/1')->{status}, 500, '"*": platform call');
is($sim->health->{ok}, JSON::PP::true, '"*" does not touch control calls');
is($sim->request(GET => '/nowhere')->{status}, 500, '"*": unknown path too');
is($sim->api(GET => '/instances/1')->{status}, 200, '"*" used up');

$sim->fault(endpoint => 'GET /hubs/contacts', status => 503);
$sim->fault(endpoint => '*', status => 500);
is($sim->api(GET => '/hubs/crm/contacts', undef, element => $tok)->{status},
    503, 'an endpoint fault goes before "*"');
is($sim->api(GET => '/hubs/crm/contacts', undef, element => $tok)->{status},
    500, 'then "*"');

$sim->fault(endpoint => 'GET /instances', status => 500, count => 10);
$sim->fault(endpoint => '*', status => 500, count => 10);
$sim->clear_faults;
is($sim->api(GET => '/instances')->{status}, 200, 'clear_faults');

$sim->fault(endpoint => 'GET /instances', status => 500);
$sim->reset;
is($sim->api(GET => '/instances')->{status}, 200, 'reset clears faults');
is($sim->count('GET /instances'), 1, 'and the counts');

for my $bad ({ count => 1 }, { endpoint => 'x', count => 0 },
             { endpoint => 'x', status => 42 }, { endpoint => 'x', delay => -1 },
             { endpoint => 'x', what => 1 })
{
    $r = $sim->request(POST => '/_sim/fault', content => encode_json($bad));
    is($r->{status}, 400, 'bad fault refused: ' . encode_json($bad));
}

done_testing;
