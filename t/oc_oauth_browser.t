#!/usr/bin/perl

# OAuth2 in a real headless Chromium: open the start location, click "Allow"
# on the simulator's consent page, land on the authorized page; then oc_pass
# uses the new instance.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;
use OCConf;
use OCBrowser;

plan skip_all => 'chromium and chromium-driver are not installed '
               . '(make deps installs them)'
    unless OCBrowser::available();

my $t = OCTest->new;
my $sim = $t->sim;
my $port = OCTest::port(8080);

$t->write_conf(oc_oauth_conf());

$t->run;

like(http_get('/crm/contacts'), qr/ 503 /, 'unauthorized before');

my $browser = OCBrowser->start(port => OCTest::port(9515));

$browser->go("http://127.0.0.1:$port/oauth/start");
like($browser->url, qr{/_sim/consent\?}, 'browser: on the consent page');
like($browser->source, qr/id="allow"/, 'browser: an Allow button');

$browser->click('#allow');

like($browser->url, qr{^http://127\.0\.0\.1:$port/oauth/callback\?},
     'browser: back on the callback');
is($browser->title, 'Authorized', 'browser: authorized page');
like($browser->source, qr/is authorized/, 'browser: it says so');

$browser->stop;

is($sim->count('POST /instances'), 1, 'one POST /instances');
like(http_get('/crm/contacts'), qr/ 200 /, 'oc_pass works');
my ($inst) = @{ $sim->instances };
is(hub_token($sim), $inst->{token}, 'with the new token');

$t->stop;

done_testing;
