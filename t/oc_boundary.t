#!/usr/bin/perl

# The credential boundary: only the upstream request of an oc_pass location
# carries the injected Authorization; error_page (named and URI), upstream
# errors, X-Accel-Redirect, try_files, mirror, auth_request after a redirect
# and $http_authorization in the access log see the client's own header.

use strict;
use warnings;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCTest qw(port);
use OCApp;

my $t = OCTest->new;
my $sim = $t->sim;
my $app = OCApp->start(dir => $t->testdir . '/app');
my $APP = $app->base_url;

# a port nothing listens on: the upstream of /down/ fails at once
my $closed = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                   Proto => 'tcp', Listen => 1)
    or die "listen: $!";
my $CLOSED = $closed->sockport;
close $closed;

$t->write_conf(<<"EOF");
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 1;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format auth '\$uri auth="\$http_authorization"';

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     ops\@example.com;
        config   pipedrive.password  pd-password;
    }

    server {
        listen       127.0.0.1:%%PORT_8080%%;
        access_log   %%TESTDIR%%/auth.log auth;

        # the simulator answers 404 for an unknown hub path
        location /crm/ {
            oc_pass                 pd;
            proxy_pass              %%OC_API_URL%%/hubs/crm/;
            proxy_intercept_errors  on;
            error_page              404 = \@fallback;
        }

        location \@fallback {
            proxy_pass  $APP;
        }

        location /down/ {
            oc_pass     pd;
            proxy_pass  http://127.0.0.1:$CLOSED/;
            error_page  502 504 = \@app;
        }

        location \@app {
            proxy_pass  $APP;
        }

        location /uri/ {
            oc_pass                 pd;
            proxy_pass              %%OC_API_URL%%/hubs/crm/;
            proxy_intercept_errors  on;
            error_page              404 /app/notfound;
        }

        location /accel/ {
            oc_pass     pd;
            proxy_pass  http://127.0.0.1:%%PORT_8081%%;
        }

        location /tf/ {
            oc_pass     pd;
            root        %%TESTDIR%%/none;
            try_files   \$uri /app/tried;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /mir/ {
            oc_pass     pd;
            mirror      /app/mirror;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /ar/ {
            oc_pass                 pd;
            proxy_pass              %%OC_API_URL%%/hubs/crm/;
            proxy_intercept_errors  on;
            error_page              404 = /guarded/x;
        }

        location /guarded/ {
            auth_request  /app/auth;
            proxy_pass    $APP;
        }

        location /post/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /app/ {
            proxy_pass  $APP;
        }
    }

    # the upstream of /accel/: it sends the request elsewhere
    server {
        listen       127.0.0.1:%%PORT_8081%%;
        access_log   off;

        location / {
            add_header  X-Accel-Redirect /app/accel;
            return      200 "";
        }
    }
}
EOF

$t->run;

my $CLIENT = 'Basic Y2xpZW50OnNlY3JldA==';
my $HDR = "Authorization: $CLIENT";
my $us = $sim->user_secret;
my $os = $sim->org_secret;

my @SECRET = ($us, $os, 'Element ');

sub leaks {
    my ($s) = @_;
    return 0 unless defined $s;
    return scalar grep { index($s, $_) >= 0 } @SECRET;
}

# the app's requests whose URI matches
sub app_saw {
    my ($re) = @_;
    my $deadline = time + 3;
    while (1) {
        my @r = grep { $_->{uri} =~ $re } $app->requests;
        return @r if @r || time > $deadline;
        sleep 0.05;
    }
}

sub auth_of {
    my ($req) = @_;
    return join '|', @{ $req->{headers}{authorization} // [] };
}

# warm-up: the token exists before the paths below are walked
like(http_get('/post/contacts', headers => $HDR), qr/^HTTP\/1\.1 200 /,
     'oc_pass location answered');

my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
my $want = "User $us, Organization $os, Element $inst->{token}";
push @SECRET, $inst->{token};

my @cases = (
    [ '/crm/no/such/thing', qr{^/crm/no/such/thing},
      'error_page 404 = @fallback' ],
    [ '/down/x', qr{^/down/x}, 'error_page 502 504 = @app' ],
    [ '/uri/no/such/thing', qr{^/app/notfound}, 'URI error_page' ],
    [ '/accel/x', qr{^/app/accel}, 'X-Accel-Redirect' ],
    [ '/tf/x', qr{^/app/tried}, 'try_files fallback' ],
    [ '/mir/contacts', qr{^/app/mirror}, 'mirror subrequest' ],
    [ '/ar/no/such/thing', qr{^/app/auth}, 'auth_request after a redirect' ],
    [ '/ar/no/such/thing', qr{^/guarded/x}, 'after auth_request' ],
);

my %done;

for my $c (@cases) {
    my ($uri, $re, $name) = @$c;

    http_get($uri, headers => $HDR) unless $done{$uri}++;

    my @got = app_saw($re);
    ok(@got, "$name: reached the application");
    ok(!(grep { leaks($_->{head}) } @got), "$name: no secret or token");
    is(auth_of($got[-1] // {}), $CLIENT, "$name: the client's own header");
}

# without a client header, the fallback gets none
http_get('/crm/none/at/all');
my ($none) = app_saw(qr{^/crm/none/at/all});
ok($none && !exists $none->{headers}{authorization},
   'no client header: the fallback gets none');

# the oc_pass upstreams themselves got the injected value
my @hub = grep { ($_->{path} // '') =~ m{/hubs/crm/(no/such/thing|contacts)} }
          @{ $sim->calls };
ok(@hub >= 3, 'oc_pass upstream requests made');
ok(!(grep { ($_->{authorization} // '') ne $want } @hub),
   'every oc_pass upstream request carried the injected value');

# a body that arrives after the header: the request is built later
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => port(8080), Proto => 'tcp')
        or die "connect: $!";
    my $body = '{"name":"late"}';
    print {$s} "POST /post/contacts HTTP/1.0\r\nHost: localhost\r\n"
               . "$HDR\r\nContent-Type: application/json\r\n"
               . "Content-Length: " . length($body) . "\r\n\r\n";
    sleep 0.3;
    print {$s} $body;
    my $sel = IO::Select->new($s);
    my $r = '';
    while ($sel->can_read(5)) {
        last unless sysread($s, $r, 65536, length $r);
    }
    close $s;
    like($r, qr/^HTTP\/1\.1 20[01] /, 'late body: proxied');
    my ($post) = grep { $_->{endpoint} eq 'POST /hubs/contacts' }
                 @{ $sim->calls };
    is($post && $post->{authorization}, $want,
       'late body: the upstream got the injected value');
}

$t->stop;

my $log = $t->read_file('auth.log');
ok(!leaks($log), '$http_authorization in the access log: no secret');
like($log, qr{^/app/notfound auth="\Q$CLIENT\E"$}m,
     '$http_authorization in the access log: the client header');
like($log, qr{^/post/contacts auth="\Q$CLIENT\E"$}m,
     '$http_authorization logged in the oc_pass location: the client header');

done_testing;
