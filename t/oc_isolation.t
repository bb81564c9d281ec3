#!/usr/bin/perl

# Isolation: nothing of a client request (headers, path, query, body)
# reaches an Open Connectors platform call, even when that request is the
# one that starts the resolution or the 401 that restarts it; only the
# proxied request carries client data, and the Authorization a client sends
# is always replaced.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;

my $M = 'm4rk3r';       # in everything the client sends

my $t = OCTest->new;
my $sim = $t->sim;

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
        name     acme-crm;
        config   pipedrive.email     ops@example.com;
        config   pipedrive.password  pd-password;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        # an operator who passes the client's header on explicitly
        location /explicit/ {
            oc_pass           pd;
            proxy_set_header  Authorization $http_authorization;
            proxy_pass        %%OC_API_URL%%/hubs/crm/;
        }
    }
}
EOF

$t->run;

my $FORGED = "User $M-user, Organization $M-org, Element $M-token";
my $BODY = qq({"name":"$M-body","email":"$M\@example.com"});

sub client {
    my ($method, $path, %opt) = @_;

    my $auth = $opt{auth} // "Authorization: $FORGED\r\n";
    my $req = "$method $path?$M-query=$M-value HTTP/1.0\r\n"
        . "Host: $M-host.example\r\n"
        . $auth
        . "Cookie: session=$M-cookie\r\n"
        . "User-Agent: $M-agent/1.0\r\n"
        . "X-Forwarded-For: 192.0.2.1\r\n"
        . "X-$M: $M-header\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($BODY) . "\r\n\r\n$BODY";

    return http($req);
}

sub platform_calls {
    return grep { $_->{endpoint} !~ m{^\w+ /hubs/} } @{ $sim->calls };
}

sub hub_calls {
    return grep { $_->{endpoint} =~ m{^\w+ /hubs/} } @{ $sim->calls };
}

my %PLATFORM_HEADERS = map { $_ => 1 }
    qw(host user-agent accept authorization content-type content-length);

# the platform calls: only the module's own headers, no client byte
sub clean {
    my ($what, @calls) = @_;
    my @dirty;

    for my $c (@calls) {
        my $text = join "\n", $c->{method}, $c->{path}, $c->{query} // '',
                   $c->{body} // '', map { @$_ } @{ $c->{headers} };
        push @dirty, "$c->{endpoint}: client data" if $text =~ /$M/i;
        push @dirty, "$c->{endpoint}: header $_->[0]"
            for grep { !$PLATFORM_HEADERS{ lc $_->[0] } } @{ $c->{headers} };
        push @dirty, "$c->{endpoint}: Authorization"
            if $c->{authorization} ne $sim->platform_auth;
    }

    ok(@calls && !@dirty, "$what: " . scalar(@calls)
                          . ' platform calls, no client data')
        or diag(join "\n", @dirty);
}

# the first request starts the resolution and waits for it

my $r = client('POST', "/crm/contacts");
like($r, qr/^HTTP\/1\.1 20[01] /, 'cold start: the request went through');
like(client('GET', "/crm/$M-path"), qr/^HTTP\/1\.1 404 /,
     'a path of the client\'s: proxied');

my @p = platform_calls();
is(scalar(grep { $_->{endpoint} eq 'POST /instances' } @p), 1,
   'cold start: the instance was created');
clean('cold start', @p);

my ($inst) = @{ $sim->instances };
my $want = $sim->hub_auth($inst->{token});

my ($hub, $hub_path) = hub_calls();
is($hub->{authorization}, $want, 'proxied: the instance\'s Authorization');
like($hub_path->{path}, qr/$M-path/, 'proxied: the client\'s path');
like($hub->{query}, qr/$M-query=$M-value/, 'proxied: the client\'s query');
like($hub->{body}, qr/$M-body/, 'proxied: the client\'s body');
ok(grep({ lc $_->[0] eq "x-$M" } @{ $hub->{headers} }),
   'proxied: the client\'s headers');

# an upstream 401 on a client request starts the resolution again

$sim->reset;
$sim->rotate($inst->{id});

like(client('GET', '/crm/contacts'), qr/ 401 /, '401: old token');
like(client('GET', '/crm/contacts'), qr/ 200 /, '401: new token');

@p = platform_calls();
is(scalar(grep { $_->{endpoint} eq 'GET /instances/{id}' } @p), 1,
   '401: the instance was asked for its token');
clean('401', @p);

($inst) = @{ $sim->instances };
$want = $sim->hub_auth($inst->{token});

# the Authorization a client sends is always replaced

my %auth = (
    'a forged triple header'   => "Authorization: $FORGED\r\n",
    'Basic'                    => "Authorization: Basic bTRyazNyOnB3\r\n",
    'a lowercase header name'  => "authorization: Bearer $M\r\n",
    'an empty value'           => "Authorization:\r\n",
    'none'                     => '',
);

for my $case (sort keys %auth) {
    $sim->reset;
    like(client('GET', '/crm/contacts', auth => $auth{$case}), qr/ 200 /,
         "$case: 200");
    my @hub = hub_calls();
    is(scalar @hub, 1, "$case: one proxied request");
    is($hub[0]{authorization}, $want, "$case: replaced");
    is(scalar(grep { lc $_->[0] eq 'authorization' } @{ $hub[0]{headers} }),
       1, "$case: exactly one Authorization upstream");
}

$sim->reset;
like(client('GET', '/explicit/contacts'), qr/ 200 /,
     '$http_authorization: 200');
is((hub_calls())[0]{authorization}, $want,
   '$http_authorization: is the replaced header');

# two Authorization lines: nginx refuses the request, nothing goes upstream

$sim->reset;
like(client('GET', '/crm/contacts',
            auth => "Authorization: Basic YTpi\r\nAuthorization: $FORGED\r\n"),
     qr/ 400 /, 'two Authorization headers: 400');
is(scalar(hub_calls()), 0, 'two Authorization headers: nothing proxied');

# a refused request is not proxied at all

$sim->reset;
$sim->disable($inst->{id});
like(client('GET', '/crm/contacts'), qr/ 403 /, 'disabled: upstream 403');
my $end = time + 5;
my $refused;
until ($refused = client('GET', '/crm/contacts') =~ / 503 /) {
    last if time > $end;
    select(undef, undef, undef, 0.05);
}
ok($refused, 'disabled: refused');
clean('disabled', platform_calls());

# requests sent while the check ran may have gone upstream; from now on
# none does
$sim->reset;
like(client('GET', '/crm/contacts'), qr/ 503 /, 'disabled: still refused');
is(scalar(hub_calls()), 0, 'refused: not proxied');

$t->stop;

done_testing;
