#!/usr/bin/perl

# OAuth2: no instance before consent, the consent round trip provisions one
# instance, a second round trip re-authorizes it, the state protects the
# callback, a refusal leaves the instance unauthorized, and a token killed by
# another instance of the same Pipedrive app waits for consent again.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use lib 't/lib';
use OCTest;
use OCConf;

my $t = OCTest->new;
my $sim = $t->sim;
my $port = OCTest::port(8080);

$t->write_conf(oc_oauth_conf(workers => 2,
                             http => 'oc_oauth_state_timeout 2s;'));

$t->run;

sub get_follow {
    my ($path) = @_;
    return $sim->request(GET => "http://127.0.0.1:$port$path",
                         max_redirect => 5);
}

sub not_platform {
    # calls other than the consent page and hub calls
    return grep { $_->{endpoint} !~ m{^GET (/consent|/hubs/)} }
           @{ $sim->calls };
}

# before consent: 503 and no instance, however many requests
{
    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, 'before: 503');
    my $body = decode_json(http_body($r));
    is($body->{reason}, 'authorization required', 'before: reason');
    is($body->{authorize}, '/oauth/start', 'before: where to authorize');
    http_get('/crm/contacts') for 1 .. 30;
    is($sim->count('POST /instances'), 0, 'before: no POST /instances');
}

# the round trip, as a browser follows it
{
    $sim->consent('allow');
    $sim->reset;

    my $r = get_follow('/oauth/start');
    is($r->{status}, 200, 'consent: final page 200');
    like($r->{content}, qr/is authorized/, 'consent: authorized page');
    is($sim->count('GET /elements/{key}/oauth/url'), 1, 'consent: one url');
    is($sim->count('POST /instances'), 1, 'consent: one POST /instances');

    my ($url) = grep { $_->{endpoint} eq 'GET /elements/{key}/oauth/url' }
                @{ $sim->calls };
    like($url->{query}, qr/apiKey=pd-app-key/, 'consent: apiKey sent');
    like($url->{query}, qr/callbackUrl=http%3A%2F%2F127\.0\.0\.1/,
         'consent: callbackUrl sent');
    like($url->{query}, qr/state=[0-9a-f]{32}(&|$)/, 'consent: state sent');

    my ($post) = grep { $_->{endpoint} eq 'POST /instances' }
                 @{ $sim->calls };
    my $body = decode_json($post->{body});
    ok($body->{providerData}{code}, 'consent: code exchanged');
    is($body->{configuration}{'authentication.type'}, 'oauth2',
       'consent: auth type');

    my ($inst) = @{ $sim->instances };
    unlike($r->{content}, qr/\Q$inst->{token}\E/, 'consent: no token shown');
    unlike($r->{content}, qr/pd-app-secret/, 'consent: no secret shown');

    like(http_get('/crm/contacts'), qr/ 200 /, 'consent: oc_pass works');
    is(hub_token($sim), $inst->{token}, 'consent: new token used');
}

# re-authorization of the existing instance: PATCH with the code, no POST
{
    $sim->reset;
    my $r = get_follow('/oauth/start');
    like($r->{content}, qr/is authorized/, 're-auth: authorized');
    is($sim->count('POST /instances'), 0, 're-auth: no POST');
    is($sim->count('PATCH /instances/{id}'), 1, 're-auth: one PATCH');
    my ($patch) = grep { $_->{endpoint} eq 'PATCH /instances/{id}' }
                  @{ $sim->calls };
    ok(decode_json($patch->{body})->{providerData}{code},
       're-auth: the code sent');
    like(http_get('/crm/contacts'), qr/ 200 /, 're-auth: oc_pass works');
}

# the state: missing, wrong, reused, expired: 400 and no call
{
    $sim->consent(undef);

    # a consent URL, not followed: it holds a fresh state
    my $start = $sim->request(GET => "http://127.0.0.1:$port/oauth/start");
    is($start->{status}, 302, 'state: start answers 302');
    my ($state) = $start->{headers}{location} =~ /state=([0-9a-f]+)/;
    ok($state, 'state: in the consent URL');

    # two more, for codes that are empty once unescaped
    my @more = map {
        my $s = $sim->request(GET => "http://127.0.0.1:$port/oauth/start");
        ($s->{headers}{location} =~ /state=([0-9a-f]+)/)[0]
    } 1 .. 2;

    $sim->reset;
    my $code = $sim->new_code;

    my @bad = (
        ['missing', "/oauth/callback?code=$code"],
        ['wrong', "/oauth/callback?code=$code&state=" . ('0' x 32)],
        ['malformed', "/oauth/callback?code=$code&state=x"],
        ['with code "%"', "/oauth/callback?code=%&state=$more[0]"],
        ['with code %00', "/oauth/callback?code=%00&state=$more[1]"],
    );

    for my $b (@bad) {
        my $r = http_get($b->[1]);
        like($r, qr/^HTTP\/1\.1 400 /, "state $b->[0]: 400");
    }
    is(scalar(not_platform()), 0, 'state: no Open Connectors call');

    my $r = http_get("/oauth/callback?code=$code&state=$state");
    like($r, qr/^HTTP\/1\.1 200 /, 'state: the right one works');
    $sim->reset;
    $r = http_get("/oauth/callback?code=$code&state=$state");
    like($r, qr/^HTTP\/1\.1 400 /, 'state reused: 400');

    $start = $sim->request(GET => "http://127.0.0.1:$port/oauth/start");
    ($state) = $start->{headers}{location} =~ /state=([0-9a-f]+)/;
    sleep 2.2;
    $sim->reset;
    $r = http_get('/oauth/callback?code=' . $sim->new_code
                  . "&state=$state");
    like($r, qr/^HTTP\/1\.1 400 /, 'state expired: 400');
    is(scalar(not_platform()), 0, 'state: still no Open Connectors call');
    ok($t->grep_log(qr/\[warn\].*oc_oauth_callback: missing, unknown/),
       'state: logged');
}

# token killed by a second instance of the same app: unauthorized, no POST
{
    like(http_get('/crm/contacts'), qr/ 200 /, 'killed: works before');
    $sim->seed_instance(name => 'elsewhere', auth => 'oauth2',
                        config => { 'oauth.api.key' => 'pd-app-key',
                                    'oauth.api.secret' => 'x',
                                    'oauth.callback.url' => 'http://x/' });
    $sim->reset;

    like(http_get('/crm/contacts'), qr/ 401 /, 'killed: the 401 once');
    my $r;
    my $end = time + 5;
    do { $r = http_get('/crm/contacts'); sleep 0.05 }
        until $r =~ / 503 / || time > $end;
    like($r, qr/ 503 /, 'killed: then 503');
    like(decode_json(http_body($r))->{reason}, qr/re-authorization needed/,
         'killed: reason');
    is(decode_json(http_body($r))->{authorize}, '/oauth/start',
       'killed: where to authorize');
    http_get('/crm/contacts') for 1 .. 10;
    is($sim->count('POST /instances'), 0, 'killed: no automatic POST');
    is($sim->count('GET /instances/{id}'), 1, 'killed: one check');
    ok($t->grep_log(qr/\[error\].*oc_instance "pd": the upstream rejected /
                    . qr/the token of instance \d+: re-authorization needed/),
       'killed: logged with the reason');
}

# consent denied: an error page, the instance stays unauthorized
{
    $sim->consent('deny');
    $sim->reset;
    my $r = get_follow('/oauth/start');
    is($r->{status}, 403, 'denied: 403');
    like($r->{content}, qr/denied/, 'denied: says so');
    is($sim->count('POST /instances'), 0, 'denied: no POST');
    is($sim->count('PATCH /instances/{id}'), 0, 'denied: no PATCH');
    like(http_get('/crm/contacts'), qr/ 503 /, 'denied: still unauthorized');

    # and consent again brings it back
    $sim->consent('allow');
    like(get_follow('/oauth/start')->{content}, qr/is authorized/,
         'denied: consent again');
    like(http_get('/crm/contacts'), qr/ 200 /, 'denied: then works');
}

$t->stop;

done_testing;
