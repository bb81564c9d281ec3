# Simulator: event notifications sent to an instance's callback URL, signed
# (or not) as section 5 of the reference describes.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use OCSim;
use OCApp;
use OCEvents;

my $KEY = 'MySecretEventSignatureKey';

my $sim = OCSim->start;
my $app = OCApp->start;
my $hook = $app->base_url . '/hook';

my %events = ('event.notification.enabled' => 'true',
              'event.vendor.type' => 'webhook',
              'event.notification.callback.url' => $hook,
              'event.notification.signature.key' => $KEY);

my $inst = $sim->seed_instance(name => 'ev', config => \%events);
my $id = $inst->{id};

# ---- a signed notification ----------------------------------------------------

$sim->reset;
my $r = $sim->send_event($id);
is($r->{status}, 200, 'delivered: the callback status');
is($r->{body}, "ok\n", 'delivered: the callback body');
is($r->{sent}{url}, $hook, 'sent to the callback URL');
is($app->count, 1, 'the callback got one request');

my $got = $app->last_request;
my $sent = decode_base64($r->{sent}{body_base64});
is($got->{method}, 'POST', 'a POST');
is($got->{uri}, '/hook', 'to the callback path');
is($got->{body}, $sent, 'body as reported');
is($got->{headers}{'content-type'}[0], 'application/json', 'JSON');
is(scalar @{ $got->{headers}{'elements-webhook-signature'} }, 1,
   'one signature header');
is($got->{headers}{'elements-webhook-signature'}[0], $r->{sent}{signature},
   'signature as reported');
is($r->{sent}{signature}, openssl_signature($KEY, $sent),
   'signature: sha256= and the base64 HMAC-SHA256 of the body (openssl)');
like($got->{headers}{'elements-webhook-id'}[0], qr/^\S+$/,
     'an Elements-Webhook-Id');
is($got->{headers}{'elements-webhook-id'}[0], $r->{sent}{webhookId},
   'webhook id as reported');
is($r->{sent}{length}, length $sent, 'length as reported');
is_deeply($sim->calls, [], 'control calls are not recorded');

my $msg = decode_json($got->{body})->{message};
is_deeply([sort keys %$msg],
          [qw(elementKey eventId eventType objectId objectType raw)],
          'message: eventId, elementKey, objectType, objectId, eventType, raw');
is($msg->{eventId}, $r->{sent}{eventId}, 'eventId as reported');
is($msg->{elementKey}, 'pipedrive', 'elementKey');
is($msg->{objectType}, 'contacts', 'objectType default');
is($msg->{eventType}, 'UPDATED', 'eventType default');
is($msg->{raw}{event}, 'updated.person', 'raw: the Pipedrive webhook');
is($msg->{raw}{meta}{object}, 'person', 'raw: its object');

my $r2 = $sim->send_event($id);
isnt($r2->{sent}{eventId}, $r->{sent}{eventId}, 'a new eventId each time');

$r = $sim->send_event($id, eventId => 'ev-42', objectType => 'accounts',
                      objectId => 7, eventType => 'CREATED');
$msg = decode_json($app->last_request->{body})->{message};
is($msg->{eventId}, 'ev-42', 'eventId given');
is($msg->{objectType}, 'accounts', 'objectType given');
is($msg->{objectId}, '7', 'objectId given, as a string');
is($msg->{eventType}, 'CREATED', 'eventType given');
is($msg->{raw}{event}, 'added.organization', 'raw follows');

$r = $sim->send_event($id, raw => { anything => [1, 2] });
is_deeply(decode_json($app->last_request->{body})->{message}{raw},
          { anything => [1, 2] }, 'raw given');

# ---- unsigned, wrongly signed, truncated ----------------------------------------

$r = $sim->send_event($id, sign => 'none', body => '{"message":{}}');
is($r->{sent}{signature}, undef, 'none: reported unsigned');
ok(!exists $app->last_request->{headers}{'elements-webhook-signature'},
   'none: no signature header');

$r = $sim->send_event($id, sign => 'bad', body => '{"message":{}}');
like($r->{sent}{signature}, qr{^sha256=[A-Za-z0-9+/]{43}=$},
     'bad: a well-formed signature');
isnt($r->{sent}{signature}, openssl_signature($KEY, '{"message":{}}'),
     'bad: not the right one');
is($app->last_request->{headers}{'elements-webhook-signature'}[0],
   $r->{sent}{signature}, 'bad: sent');

my $full = '{"message":{"eventId":"t-1","raw":"' . ('x' x 100) . '"}}';
$r = $sim->send_event($id, body => $full, truncate => 1);
is($app->last_request->{body}, substr($full, 0, length($full) / 2),
   'truncate: the first half is sent');
is($r->{sent}{signature}, openssl_signature($KEY, $full),
   'truncate: signed over the whole body');

# ---- given bodies, extra headers, the callback's answer --------------------------

my $binary = join '', map { chr } 0 .. 255;
$r = $sim->send_event($id, body_base64 => encode_base64($binary, ''));
is($app->last_request->{body}, $binary, 'body_base64: bytes as they are');
is($r->{sent}{signature}, openssl_signature($KEY, $binary),
   'body_base64: signed');

$r = $sim->send_event($id, body => '', sign => 'good');
is($app->last_request->{body}, '', 'an empty body');
is($r->{sent}{signature}, openssl_signature($KEY, ''), 'empty body signed');

$r = $sim->send_event($id, headers => { Authorization => 'Basic eDp5' });
is($app->last_request->{headers}{authorization}[0], 'Basic eDp5',
   'extra headers');

my $fail = $sim->seed_instance(name => 'ev-500', config => {
    %events, 'event.notification.callback.url' => "$hook/status/503" });
$r = $sim->send_event($fail->{id});
is($r->{status}, 503, 'the callback status is reported as it is');

# an instance without a key: Open Connectors sends its events unsigned
my %nokey = %events;
delete $nokey{'event.notification.signature.key'};
my $nokey = $sim->seed_instance(name => 'ev-nokey', config => \%nokey);
$r = $sim->send_event($nokey->{id});
is($r->{status}, 200, 'no key: delivered');
is($r->{sent}{signature}, undef, 'no key: unsigned');
ok(!exists $app->last_request->{headers}{'elements-webhook-signature'},
   'no key: no signature header');

# ---- refusals --------------------------------------------------------------------

sub event_error {
    my ($path, $body) = @_;
    my $res = $sim->request(POST => $path,
                            content => encode_json($body // {}),
                            headers => {'Content-Type' => 'application/json'});
    return ($res->{status}, $res->{json}{message} // '');
}

my $count = $app->count;

my ($status, $text) = event_error('/_sim/events/9999');
is($status, 404, 'unknown instance: 404');

my $off = $sim->seed_instance(name => 'ev-off', config => {
    %events, 'event.notification.enabled' => 'false' });
($status, $text) = event_error("/_sim/events/$off->{id}");
is($status, 409, 'events not enabled: 409');
like($text, qr/not enabled/, 'events not enabled: said');

my $nourl = $sim->seed_instance(name => 'ev-nourl', config => {
    'event.notification.enabled' => 'true' });
($status, $text) = event_error("/_sim/events/$nourl->{id}");
is($status, 400, 'no callback URL: 400');
like($text, qr/event\.notification\.callback\.url/, 'no callback URL: said');

my $dis = $sim->seed_instance(name => 'ev-dis', config => \%events,
                              disabled => 1);
($status) = event_error("/_sim/events/$dis->{id}");
is($status, 409, 'disabled instance: 409');

($status, $text) = event_error("/_sim/events/$id", { sign => 'maybe' });
is($status, 400, 'bad sign: 400');
($status, $text) = event_error("/_sim/events/$id", { colour => 'red' });
is($status, 400, 'unknown field: 400');
like($text, qr/colour/, 'unknown field: named');
($status) = event_error("/_sim/events/$id", { body => 'a', body_base64 => 'YQ==' });
is($status, 400, 'body and body_base64: 400');

is($app->count, $count, 'no refused call reached the callback');

my $gone = OCApp->start;
my $gone_url = $gone->base_url . '/hook';
$gone->stop;
my $dead = $sim->seed_instance(name => 'ev-dead', config => {
    %events, 'event.notification.callback.url' => $gone_url });
($status, $text) = event_error("/_sim/events/$dead->{id}");
is($status, 502, 'unreachable callback: 502');
like($text, qr/^Delivery to \Q$gone_url\E failed/, 'unreachable: said');

is($sim->request(GET => "/_sim/events/$id")->{status}, 404,
   'GET is not a control call');

$app->stop;
$sim->stop;

done_testing;
