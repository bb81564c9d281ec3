#!/usr/bin/perl

# oc_events: only notifications signed with the instance's key reach the
# application, byte for byte, with X-OC-Instance and without Authorization;
# a replayed event id gets 409 (nginx -t checks are in oc_config.t).

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest qw(:DEFAULT port);
use OCApp;
use OCEvents;

my $KEY = 'k3y-never-logged-7d1e';
my $NEW_KEY = 'k3y-rotated-never-logged-91c0';
my $MAX_BODY = 4 * 1024 * 1024;

my $t = OCTest->new;
my $sim = $t->sim;
my $app = OCApp->start(dir => $t->testdir . '/app');

$t->write_file('event.key', "$KEY\n", mode => 0600);

sub conf {
    my (%o) = @_;

    my $http = $o{http} // '';
    my $app_url = $app->base_url;

    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 2;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    oc_zone                 oc:2m;
    $http

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     ops\@example.com;
        config   pipedrive.password  pd-password;
        config   event.notification.enabled        true;
        config   event.vendor.type                 webhook;
        config   event.notification.callback.url   http://127.0.0.1:%%PORT_8080%%/hooks/pd;
        config   event.notification.signature.key  file:event.key;
    }

    server {
        listen                   127.0.0.1:%%PORT_8080%%;
        client_max_body_size     $MAX_BODY;
        client_body_buffer_size  16k;

        location /hooks/pd {
            oc_events   pd;
            proxy_pass  $app_url/pd;
        }

        location /hooks/fail {
            oc_events   pd;
            proxy_pass  $app_url/status/500;
        }

        location /hooks/file {
            oc_events                pd;
            client_body_in_file_only clean;
            proxy_pass               $app_url/file;
        }
    }
}
EOF
}

sub post_event {
    my ($uri, $body, $sig, $headers) = @_;

    my $h = "Content-Type: application/json\r\n";
    $h .= "Elements-Webhook-Signature: $sig\r\n" if defined $sig;
    $h .= $headers // '';

    return http_post($uri, $body, headers => $h, timeout => 20);
}

sub notification {
    my ($id, %raw) = @_;
    return encode_json({ message => {
        eventId => $id, elementKey => 'pipedrive', objectType => 'contacts',
        objectId => '1', eventType => 'UPDATED', raw => \%raw } });
}

sub wait_for {
    my ($cond) = @_;
    my $deadline = time + 5;
    sleep 0.05 until $cond->() || time > $deadline;
    return $cond->();
}

sub buffered { scalar $t->grep_log(qr/client request body is buffered/) }

$t->write_conf(conf());
$t->run;

# ---- provisioning ------------------------------------------------------------

ok(wait_for(sub { @{ $sim->instances } }), 'instance provisioned');
my ($inst) = @{ $sim->instances };
my $id = $inst->{id};

is($inst->{configuration}{'event.notification.callback.url'},
   'http://127.0.0.1:' . port(8080) . '/hooks/pd',
   'callback URL provisioned');
is($inst->{configuration}{'event.notification.signature.key'}, $KEY,
   'signature key provisioned');

# ---- genuine notifications, from the simulator -----------------------------------

my $r = $sim->send_event($id, headers => {
    Authorization => 'User u, Organization o',
    'X-OC-Instance' => 'forged' });
is($r->{status}, 200, 'signed: 200');
is($app->count, 1, 'signed: reached the application');

my $got = $app->last_request;
is($got->{body}, decode_base64($r->{sent}{body_base64}),
   'signed: body byte for byte');
is($got->{uri}, '/pd', 'signed: proxied');
is_deeply($got->{headers}{'x-oc-instance'}, ['pd'],
          'signed: X-OC-Instance, and only the module\'s');
ok(!exists $got->{headers}{authorization}, 'signed: no Authorization');
is($got->{headers}{'elements-webhook-signature'}[0], $r->{sent}{signature},
   'signed: the signature header is passed on');
is($got->{headers}{'elements-webhook-id'}[0], $r->{sent}{webhookId},
   'signed: other headers are passed on');

my $genuine = $r;

# ---- refused: never forwarded ---------------------------------------------------

my $count = $app->count;

$r = $sim->send_event($id, sign => 'none');
is($r->{status}, 401, 'unsigned: 401');
cmp_ok(length $r->{body}, '<', 512, 'unsigned: a small body');
is($sim->send_event($id, sign => 'bad')->{status}, 401, 'wrong key: 401');
is($sim->send_event($id, truncate => 1)->{status}, 401,
   'truncated body: 401');

my $body = notification('direct-1');
my $sig = openssl_signature($KEY, $body);

is(http_status(post_event('/hooks/pd', substr($body, 0, 40), $sig)), 401,
   'truncated body, direct: 401');
is(http_status(post_event('/hooks/pd', $body, substr($sig, 0, 30))), 401,
   'truncated signature: 401');
is(http_status(post_event('/hooks/pd', $body, substr($sig, 7))), 401,
   'no sha256= prefix: 401');
(my $sha1 = $sig) =~ s/^sha256=/sha1=/;
is(http_status(post_event('/hooks/pd', $body, $sha1)), 401, 'sha1=: 401');
is(http_status(post_event('/hooks/pd', $body, $sig,
                          "Elements-Webhook-Signature: $sig\r\n")), 401,
   'two signature headers: 401');
is(http_status(post_event('/hooks/pd', $body, undef,
                          "Authorization: $sig\r\n")), 401,
   'signature in another header: 401');

$r = http_get('/hooks/pd');
is(http_status($r), 405, 'GET: 405');
is(http_header($r, 'Allow'), 'POST', 'GET: Allow: POST');

# a client that goes away in the middle of the body
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => port(8080), Proto => 'tcp');
    my $big = notification('gone-1', pad => 'x' x 100000);
    print {$s} "POST /hooks/pd HTTP/1.0\r\nHost: localhost\r\n"
        . 'Content-Length: ' . length($big) . "\r\n"
        . 'Elements-Webhook-Signature: ' . openssl_signature($KEY, $big)
        . "\r\n\r\n" . substr($big, 0, 50000);
    sleep 0.2;
    close $s;
    sleep 0.3;
}

is($app->count, $count, 'no refused notification reached the application');

is(http_status(post_event('/hooks/pd', $body, $sig)), 200,
   'the same notification, signed: 200');
is($app->last_request->{body}, $body, 'and it arrives');

# ---- replays ----------------------------------------------------------------------

$count = $app->count;

is(http_status(post_event('/hooks/pd', $body, $sig)), 409, 'replayed: 409');
is(http_status(post_event('/hooks/pd',
                          decode_base64($genuine->{sent}{body_base64}),
                          $genuine->{sent}{signature})), 409,
   'replayed simulator notification: 409');

my $again = notification('direct-1', other => 'body');
is(http_status(post_event('/hooks/pd', $again,
                          openssl_signature($KEY, $again))), 409,
   'same eventId, another body: 409');

is(scalar(grep { http_status(post_event('/hooks/pd', $body, $sig)) == 409 }
          1 .. 6), 6, 'replayed on new connections, either worker: 409');

is($app->count, $count, 'no replay reached the application');

is($sim->send_event($id, eventId => 'direct-2')->{status}, 200,
   'another eventId: 200');

# the application did not take it: Open Connectors' retry gets through
my $retry = notification('retry-1');
my $retry_sig = openssl_signature($KEY, $retry);

is(http_status(post_event('/hooks/fail', $retry, $retry_sig)), 500,
   'application answered 500');
ok(wait_for(sub { $t->grep_log(qr/ended with status 500, a retry will be/) }),
   'logged: a retry will be accepted');
is(http_status(post_event('/hooks/pd', $retry, $retry_sig)), 200,
   'retry after a failed delivery: 200');
is(http_status(post_event('/hooks/pd', $retry, $retry_sig)), 409,
   'and once taken, a replay: 409');

# ---- bodies: memory, temporary file, up to client_max_body_size --------------------

srand(7);
my @bodies = (
    [ 'empty', '' ],
    [ 'binary', join('', map { chr } 0 .. 255) x 16 ],
    [ '100k random', join('', map { chr int rand 256 } 1 .. 100_000) ],
    [ '3m random', join('', map { chr int rand 256 } 1 .. 3_000_000) ],
    [ 'client_max_body_size', join('', map { chr(65 + $_ % 26) }
                                       1 .. $MAX_BODY) ],
);

for my $b (@bodies) {
    my ($name, $data) = @$b;
    my $good = openssl_signature($KEY, $data);
    my $bad = openssl_signature("$KEY-other", $data);
    my $files = buffered();

    $count = $app->count;

    is(http_status(post_event('/hooks/pd', $data, $bad)), 401,
       "$name: wrong signature, 401");
    is(http_status(post_event('/hooks/pd', $data, $good)), 200,
       "$name: the openssl signature, 200");
    is($app->count, $count + 1, "$name: forwarded once");
    ok($app->last_request->{body} eq $data, "$name: body byte for byte");
    is(http_status(post_event('/hooks/pd', $data, $good)), 409,
       "$name: replayed, 409");

    if (length $data > 16 * 1024) {
        cmp_ok(buffered(), '>', $files, "$name: read from a temporary file");
    }
}

my $over = 'x' x ($MAX_BODY + 1);
$count = $app->count;
is(http_status(post_event('/hooks/pd', $over,
                          openssl_signature($KEY, $over))), 413,
   'above client_max_body_size: 413');
is($app->count, $count, 'above client_max_body_size: not forwarded');

# a notification in a temporary file is parsed for its event id
my $filed = notification('filed-1', pad => 'p' x 50_000);
is(http_status(post_event('/hooks/pd', $filed,
                          openssl_signature($KEY, $filed))), 200,
   'large notification: 200');
my $filed2 = notification('filed-1', pad => 'q' x 50_000);
is(http_status(post_event('/hooks/pd', $filed2,
                          openssl_signature($KEY, $filed2))), 409,
   'its event id read from the temporary file: 409');

# client_body_in_file_only: the whole body is in a file, however small
my $small = notification('in-file-1');
is(http_status(post_event('/hooks/file', $small,
                          openssl_signature($KEY, $small))), 200,
   'client_body_in_file_only: 200');
is($app->last_request->{body}, $small, 'client_body_in_file_only: body');

# above 1 MB the event id is not parsed: a byte for byte replay is still
# caught by the signature
my $huge = notification('huge-1', pad => 'h' x 1_100_000);
my $huge_sig = openssl_signature($KEY, $huge);
is(http_status(post_event('/hooks/pd', $huge, $huge_sig)), 200,
   'notification above 1 MB: 200');
is(http_status(post_event('/hooks/pd', $huge, $huge_sig)), 409,
   'notification above 1 MB, replayed: 409');

# a chunked request body
{
    my $chunked = notification('chunked-1');
    my $half = int(length($chunked) / 2);
    my $req = "POST /hooks/pd HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nTransfer-Encoding: chunked\r\n"
        . 'Elements-Webhook-Signature: '
        . openssl_signature($KEY, $chunked) . "\r\n\r\n"
        . sprintf("%x\r\n%s\r\n", $half, substr($chunked, 0, $half))
        . sprintf("%x\r\n%s\r\n", length($chunked) - $half,
                  substr($chunked, $half))
        . "0\r\n\r\n";
    is(http_status(http($req)), 200, 'chunked body: 200');
    is($app->last_request->{body}, $chunked, 'chunked body: byte for byte');
}

# ---- nothing secret in the log ---------------------------------------------------

my $log = $t->error_log;
unlike($log, qr/\Q$KEY\E/, 'the key is never logged');
ok(!grep({ index($log, substr($_, 7)) >= 0 }
         $sig, $genuine->{sent}{signature}, openssl_signature($KEY, '')),
   'no signature is logged');
like($log, qr/oc_events: refused a notification for "pd": signature mismatch/,
     'a mismatch is logged');
like($log, qr/oc_events: refused a replayed notification for "pd", event "direct-1"/,
     'a replay is logged with its event id');

# ---- reloads ---------------------------------------------------------------------

$t->reload;
is(http_status(post_event('/hooks/pd', $body, $sig)), 409,
   'reload: the ids accepted before are kept');

# a rotated key is provisioned, and verifies from then on
$t->write_file('event.key', "$NEW_KEY\n", mode => 0600);
$sim->reset;
$t->reload;

ok(wait_for(sub { $sim->count('PATCH /instances/{id}') }),
   'rotated key: the instance is updated');
is($sim->count('PATCH /instances/{id}'), 1, 'rotated key: one update');
is($sim->count('POST /instances'), 0, 'rotated key: no new instance');
($inst) = @{ $sim->instances };
is($inst->{configuration}{'event.notification.signature.key'}, $NEW_KEY,
   'rotated key: provisioned');
is($sim->send_event($id)->{status}, 200, 'rotated key: the simulator\'s '
   . 'notification verifies');

my $rot = notification('rotated-1');
is(http_status(post_event('/hooks/pd', $rot, openssl_signature($KEY, $rot))),
   401, 'rotated key: the old key is refused');

# a short window and a small store
$t->write_conf(conf(http => 'oc_events_replay_window 1s; '
                            . 'oc_events_replay_max 3;'));
$t->reload;
ok($t->grep_log(qr/oc_events_replay_max changed from 4096 to 3, the event/),
   'a new capacity: the store is made anew, as logged');

my %sig;
for my $e (qw(w-1 w-2 w-3 w-4)) {
    my $n = notification($e);
    $sig{$e} = [ $n, openssl_signature($NEW_KEY, $n) ];
}

is(http_status(post_event('/hooks/pd', @{ $sig{'w-1'} })), 200, 'window: 200');
is(http_status(post_event('/hooks/pd', @{ $sig{'w-1'} })), 409,
   'window: replay within it, 409');
sleep 1.2;
is(http_status(post_event('/hooks/pd', @{ $sig{'w-1'} })), 200,
   'window: after it, accepted again');

is(http_status(post_event('/hooks/pd', @{ $sig{$_} })), 200, "store: $_")
    for qw(w-2 w-3 w-4);
ok(wait_for(sub { $t->grep_log(qr/all 3 event ids are within oc_events_replay_window, the oldest was forgotten/) }),
   'store: a full store warns');
is(http_status(post_event('/hooks/pd', @{ $sig{'w-4'} })), 409,
   'store: the newest is kept');
is(http_status(post_event('/hooks/pd', @{ $sig{'w-1'} })), 200,
   'store: the oldest was forgotten');

$t->write_conf(conf(http => 'oc_events_replay_window 0;'));
$t->reload;
is(http_status(post_event('/hooks/pd', @{ $sig{'w-2'} })), 200,
   'window 0: no replay protection');
is(http_status(post_event('/hooks/pd', @{ $sig{'w-2'} })), 200,
   'window 0: the same again');

$t->stop;
$app->stop;

done_testing;
