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

$t->write_conf(<<'EOF');
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 1;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;

    oc_instance pd {
        element  pipedrive;
        name     acme-oauth;
        auth     oauth2;
        config   oauth.api.key       pd-app-key;
        config   oauth.api.secret    pd-app-secret;
        config   oauth.callback.url  http://127.0.0.1:%%PORT_8080%%/oauth/callback;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /oauth/start {
            oc_oauth_start  pd;
        }

        location = /oauth/callback {
            oc_oauth_callback  pd;
        }
    }
}
EOF

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
