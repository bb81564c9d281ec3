# Every examples/*.conf passes nginx -t with the built module, the secrets it names (file:, env:) provided by the test, and nothing outside the test's directory touched.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Path qw(make_path);
use Test::More;

use lib 't/lib';
use OCTest;

# OC_TEST_EXAMPLES=DIR tries the test on another directory of examples
my $EXAMPLES = $ENV{OC_TEST_EXAMPLES} || 'examples';

my @files = sort glob("$EXAMPLES/*.conf");
plan skip_all => "no $EXAMPLES/*.conf" unless @files;

# An example is written for a real host: absolute paths under /etc, /var
# and /run, secrets in files only root can read, port 80 and 443, and the
# Open Connectors host name in proxy_pass, which nginx -t resolves.  The
# copy the test runs is changed only where it must be to run here:
#
#   - the placeholders scripts/run-demo fills in (%%MODULE%% ...)
#   - load_module of ngx_oc_module: the freshly built module (added to the
#     first line when the example has none, as with Debian's package), or
#     none when the module is built into nginx (OC_TEST_STATIC)
#   - file:PATH and env:NAME: a file or variable the test provides
#   - pid, logs, temp paths, missing certificates: under the test directory
#     (a pid directive added to the first line when the example has none)
#   - listen: a loopback port of the test
#   - host names in *_pass URLs and upstream servers: 127.0.0.1
#
# Comments are left alone.

my %PLACEHOLDER = (
    MODULE     => sub { $OCTest::MODULE },
    LISTEN     => sub { '127.0.0.1:' . OCTest::port("$_[0]:LISTEN") },
    OC_API_URL => sub { 'http://127.0.0.1:9/elements/api-v2' },
);

my $PATH_DIRECTIVES = qr/pid|error_log|access_log|lock_file|\w+_temp_path/;

# a value that passes the checks nginx -t makes on a configuration key
sub secret_value {
    my ($key) = @_;

    return 'https://app.example.com/oc/events' if $key =~ /url$/i;
    return 'true' if $key =~ /\.(?:enabled|nulls)$/;
    return 'polling' if $key eq 'event.vendor.type';
    return 'webhook' if $key eq 'event.notification.type';
    return 'crm@example.com' if $key =~ /email/i;

    (my $v = "test-$key") =~ s/[^A-Za-z0-9]+/-/g;
    return $v;
}

sub is_hostname {
    my ($host, $upstreams) = @_;
    return $host =~ /[A-Za-z]/ && $host !~ /[\$\[]/
           && $host ne 'localhost' && !$upstreams->{$host};
}

# one self-signed certificate for every certificate an example names
# that this host does not have
my %CERT;
sub test_cert {
    my ($t, $key) = @_;

    unless (%CERT) {
        my $dir = $t->testdir;
        my ($rc, $out) = OCTest::_run_cmd(60, undef, 'openssl', 'req',
            '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
            '-subj', '/CN=localhost', '-keyout', "$dir/test-cert.key",
            '-out', "$dir/test-cert.pem");
        die "openssl: $out" if $rc != 0;
        %CERT = (key => "$dir/test-cert.key", cert => "$dir/test-cert.pem");
    }

    return $CERT{ $key ? 'key' : 'cert' };
}

# The example as the test runs it, the environment it needs, and the
# placeholders no one knows how to fill in.
sub prepare {
    my ($t, $name, $conf) = @_;
    my $dir = $t->testdir;
    my $root = "$dir/root";
    my (%env, @unknown);

    my %upstreams = map { $_ => 1 } $conf =~ /^\s*upstream\s+(\S+)\s*\{/mg;
    my $in_upstream = 0;
    my $loads_module = 0;
    my $has_pid = 0;

    # an nginx built from source logs to logs/access.log under the prefix
    # when the example names no access_log (Debian's: /var/log/nginx/)
    make_path("$dir/logs");

    my $path_in_root = sub {
        my ($path) = @_;
        make_path(dirname("$root$path"));
        return "$root$path";
    };

    my @out;
    for my $line (split /\n/, $conf, -1) {
        my ($code, $comment) = $line =~ /^((?:[^#"']|"[^"]*"|'[^']*')*)(.*)$/s;

        $code =~ s{%%([A-Z][A-Z0-9_]*)%%}{
            $PLACEHOLDER{$1} ? $PLACEHOLDER{$1}->($name)
                             : do { push @unknown, $1; "%%$1%%" }
        }ge;

        # built into nginx (OC_TEST_STATIC): no load_module, same lines
        if ($code =~ s{^(\s*load_module\s+)\S*ngx_oc_module\.so(?=\s*;)}
                      {$1$OCTest::MODULE}) {
            $loads_module = 1;
            $code =~ s{^\s*load_module\s+\S+\s*;}{} if $OCTest::STATIC;
        }

        $has_pid = 1 if $code =~ /^\s*pid\s/;

        # file:PATH and env:NAME, named after the key before them
        $code =~ s{(\S+)(\s+)file:([^\s;"']+)}{
            my ($key, $sp, $path) = ($1, $2, $3);
            my $file = $path =~ m{^/} ? $path_in_root->($path) : "$dir/$path";
            $t->write_file($file, secret_value($key) . "\n", mode => 0600)
                unless -e $file;
            "$key${sp}file:$file"
        }ge;

        while ($code =~ /(\S+)\s+env:(\w+)/g) {
            $env{$2} //= secret_value($1);
        }

        $code =~ s{^(\s*(?:$PATH_DIRECTIVES)\s+)(/[^\s;]+)}
                  {$1 . $path_in_root->($2)}e;

        # nginx makes a temp path's last directory only, as run-demo knows
        if ($code =~ m{^\s*(?:$PATH_DIRECTIVES)\s+([^\s;/][^\s;]*/)}) {
            make_path("$dir/$1");
        }

        if ($code =~ /^\s*(\w*ssl_\w*certificate(_key)?)\s+([^\s;]+)/) {
            my ($key, $path) = (defined $2, $3);
            my $full = $path =~ m{^/} ? $path : "$dir/$path";
            if ($path !~ /^(?:data:|engine:)/ && $path !~ /\$/ && !-e $full) {
                my $cert = test_cert($t, $key);
                $code =~ s{^(\s*\w+\s+)[^\s;]+}{$1$cert};
            }
        }

        $code =~ s{^(\s*listen\s+)([^\s;]+)}{
            my ($pre, $addr) = ($1, $2);
            $addr =~ /^unix:/ ? "$pre$addr"
                : $pre . '127.0.0.1:' . OCTest::port("$name:$addr")
        }e;

        $code =~ s{(\b\w+_pass\s+\w+://)([^/:;\s]+)}{
            $1 . (is_hostname($2, \%upstreams) ? '127.0.0.1' : $2)
        }ge;

        $in_upstream = 1 if $code =~ /^\s*upstream\s+\S+\s*\{/;
        if ($in_upstream) {
            $code =~ s{^(\s*server\s+)([^\s:;]+)}{
                $1 . (is_hostname($2, \%upstreams) ? '127.0.0.1' : $2)
            }e;
            $in_upstream = 0 if $code =~ /\}/;
        }

        # include of a file Debian's nginx ships next to nginx.conf
        while ($code =~ /^\s*include\s+([^\s;\/\*]+)\s*;/g) {
            my $inc = $1;
            next if -e "$dir/$inc" || !-f "/etc/nginx/$inc";
            $t->write_file($inc, OCTest::_slurp("/etc/nginx/$inc"));
        }

        push @out, $code . $comment;
    }

    # on the first line, so that nginx's line numbers are the example's;
    # without a pid directive nginx -t would create its compiled-in one
    # (Debian's /run/nginx.pid, or logs/nginx.pid under the prefix of an
    # nginx built from source, where there is no logs/)
    $out[0] = "load_module $OCTest::MODULE; $out[0]"
        unless $loads_module || $OCTest::STATIC;
    $out[0] = "pid $dir/nginx.pid; $out[0]" unless $has_pid;

    return (join("\n", @out), \%env, \@unknown);
}


for my $file (@files) {
    (my $name = $file) =~ s{.*/}{};

    my $t = OCTest->new;
    my $dir = $t->testdir;

    # the example's directory, for what it includes or reads relatively
    system('cp', '-a', "$EXAMPLES/.", "$dir/") == 0
        or die "cp $EXAMPLES: $?";

    my ($conf, $env, $unknown) = prepare($t, $name, OCTest::_slurp($file));

    if (@$unknown) {
        fail("$name: unknown placeholders " . join(' ', map { "%%$_%%" }
                                                        @$unknown));
        next;
    }

    $t->write_file('nginx.conf', $conf);

    local @ENV{ keys %$env } = values %$env;
    my ($rc, $out) = $t->test_config;
    $out =~ s{\Q@{[ $t->conf_file ]}\E}{$file}g;

    is($rc, 0, "$name: nginx -t")
        or diag "$out\n--- as tested (" . $t->conf_file . "):\n$conf";
    diag("$name: $_") for grep { /\[warn\]/ } split /\n/, $out;
}

done_testing;
