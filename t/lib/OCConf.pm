package OCConf;

# The nginx.conf most runtime tests share: one Pipedrive instance "pd"
# (Open Connectors name "acme-crm") passed on /crm/ to the simulator's hub,
# and a plain /ping location.

use strict;
use warnings;

use Exporter qw(import);
our @EXPORT = qw(oc_conf oc_oauth_conf hub_token write_renamed smallest_zone);

# oc_conf(auth => .., config => {k => v}, extra => 'directives;',
#         workers => N, http => 'directives;', api_url => url,
#         port => 8081 (the %%PORT_n%% key nginx listens on))
sub oc_conf {
    my (%o) = @_;

    my $auth = $o{auth} // 'emailPassword';
    my %config = %{ $o{config} // { 'pipedrive.email' => 'ops@example.com',
                                    'pipedrive.password' => 'pd-password' } };
    my $config = join "\n        ",
        map { "config $_ $config{$_};" } sort keys %config;
    my $extra = $o{extra} // '';
    my $http = $o{http} // '';
    my $workers = $o{workers} // 1;
    my $api = $o{api_url} // '%%OC_API_URL%%';
    my $port = $o{port} // 8080;

    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes $workers;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              $api;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    $http

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        auth     $auth;
        $config
        $extra
    }

    server {
        listen  127.0.0.1:%%PORT_$port%%;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /ping {
            return  200 "pong\\n";
        }
    }
}
EOF
}

# an oauth2 instance "pd" (name "acme-oauth") with /crm/, /oauth/start and
# /oauth/callback; oc_oauth_conf(workers => N, http => 'directives;')
sub oc_oauth_conf {
    my (%o) = @_;
    my $workers = $o{workers} // 1;
    my $http = $o{http} // '';

    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes $workers;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    $http

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
}


# the token of the last hub call the simulator saw
sub hub_token {
    my ($sim) = @_;
    my @hub = grep { $_->{endpoint} =~ m{^\w+ /hubs/} } @{ $sim->calls };
    return undef unless @hub;
    return ($hub[-1]{authorization} =~ /Element (\S+)$/)[0];
}


# oc_conf() with the block "pd" renamed to $block and a zone of $zone,
# written to $t
sub write_renamed {
    my ($t, $block, $zone, %o) = @_;
    my $c = oc_conf(http => "oc_zone oc:$zone;", %o);
    $c =~ s/\boc_instance pd\b/oc_instance $block/;
    $c =~ s/\boc_pass(\s+)pd;/oc_pass$1$block;/g;
    $t->write_conf($c);
}

# the smallest zone nginx -t accepts for that configuration, as "NNk"
sub smallest_zone {
    my ($t, %o) = @_;
    for (my $k = 12; $k <= 128; $k += 4) {
        write_renamed($t, 'pd0', "${k}k", %o);
        my ($rc) = $t->test_config;
        return "${k}k" if $rc == 0;
    }
    return undef;
}

1;
