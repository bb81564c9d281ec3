#!/usr/bin/perl

# TLS to Open Connectors: the simulator serves https with a throw-away CA;
# the right CA works, a wrong one or a wrong host name fails with a log
# line naming the verification error, "oc_ssl_verify off" works with a
# warning, and plain http to a host that is not loopback gets a warning.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use lib 't/lib';
use OCTest;
use OCConf;

my $pki = OCTest->new;
my $dir = $pki->testdir;

sub openssl {
    my $out = `openssl @_ 2>&1`;
    die "openssl @_: $out" if $?;
}

# a CA, a server certificate for 127.0.0.1 it signed, one for another name,
# and a second CA that signed nothing here
sub ca {
    my ($name) = @_;
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
            . " -nodes -keyout $dir/$name.key -out $dir/$name.pem -days 2"
            . " -subj '/CN=ngx_oc_module test $name'"
            . " -addext basicConstraints=critical,CA:TRUE"
            . " -addext keyUsage=critical,keyCertSign,cRLSign");
}

sub server_cert {
    my ($name, $san) = @_;
    $pki->write_file("$name.ext", "basicConstraints=CA:FALSE\n"
                     . "extendedKeyUsage=serverAuth\n"
                     . "subjectAltName=$san\n");
    openssl("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            . " -keyout $dir/$name.key -out $dir/$name.csr"
            . " -subj '/CN=$name'");
    openssl("x509 -req -in $dir/$name.csr -CA $dir/ca.pem"
            . " -CAkey $dir/ca.key -CAcreateserial -out $dir/$name.pem"
            . " -days 2 -extfile $dir/$name.ext");
}

ca('ca');
ca('other-ca');
server_cert('server', 'IP:127.0.0.1,DNS:localhost');
server_cert('elsewhere', 'DNS:elsewhere.example');

sub tls_run {
    my (%o) = @_;

    my $t = OCTest->new;
    my $sim = $t->sim(tls_cert => "$dir/$o{cert}.pem",
                      tls_key => "$dir/$o{cert}.key");
    my $conf = oc_conf(http => $o{http});
    $conf =~ s{(location = /ping)}{location = /status { oc_status; }\n        $1};
    $t->write_conf($conf)->run;

    return ($t, $sim);
}

sub transport_calls {
    my $json = decode_json(http_body(http_get('/status')));
    return $json->{instances}{pd}{calls}{list}{transport};
}

like(OCTest::port(8080), qr/^\d+$/, 'port');

# the right CA
{
    my ($t, $sim) = tls_run(cert => 'server',
                            http => "oc_ssl_trusted_certificate $dir/ca.pem;");

    like($sim->api_url, qr{^https://}, 'right CA: simulator on https');
    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 200 /, 'right CA: 200');
    is($sim->count('POST /instances'), 1, 'right CA: instance created');
    ok(!$t->grep_log(qr/\[warn\]/), 'right CA: no warning');
    $t->stop;
}

# a relative path is taken from the configuration's directory
{
    my $t = OCTest->new;
    $t->write_file('ca.pem', $pki->read_file('ca.pem'));
    my $sim = $t->sim(tls_cert => "$dir/server.pem",
                      tls_key => "$dir/server.key");
    $t->write_conf(oc_conf(http => 'oc_ssl_trusted_certificate ca.pem;'))
      ->run;
    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 200 /,
         'relative path: 200');
    $t->stop;
}

# a CA that did not sign the certificate
{
    my ($t, $sim) = tls_run(cert => 'server',
                            http => "oc_ssl_trusted_certificate"
                                    . " $dir/other-ca.pem;");

    my $r = http_get('/crm/contacts');
    like($r, qr/^HTTP\/1\.1 503 /, 'wrong CA: 503');
    ok($t->grep_log(qr/\[error\].*oc_instance "pd": /
                    . qr/GET \/elements\/pipedrive\/instances failed: /
                    . qr/SSL certificate problem: unable to get local /
                    . qr/issuer certificate/),
       'wrong CA: the log names the verification error')
        or diag($t->error_log);
    like(http_body($r), qr/SSL certificate problem/,
         'wrong CA: the reason in the 503 body');
    is($sim->count('GET /elements/{key}/instances'), 0,
       'wrong CA: no request got through');
    is(transport_calls(), 1, 'wrong CA: not retried');
    $t->stop;
}

# the default: the system's CA store, which does not know the test CA
{
    my ($t, $sim) = tls_run(cert => 'server', http => '');

    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 503 /, 'system CAs: 503');
    ok($t->grep_log(qr/\[error\].*/
                    . qr/GET \/elements\/pipedrive\/instances failed: /
                    . qr/SSL certificate problem: /),
       'system CAs: the log names the verification error');
    $t->stop;
}

# the right CA, the certificate of another host name
{
    my ($t, $sim) = tls_run(cert => 'elsewhere',
                            http => "oc_ssl_trusted_certificate $dir/ca.pem;");

    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 503 /, 'wrong name: 503');
    ok($t->grep_log(qr/\[error\].*/
                    . qr/GET \/elements\/pipedrive\/instances failed: .*/
                    . qr/(?:subject name|host name|hostname)/i),
       'wrong name: the log names the mismatch')
        or diag($t->error_log);
    $t->stop;
}

# verification off: works, with a warning at start naming the line
{
    my ($t, $sim) = tls_run(cert => 'elsewhere',
                            http => "oc_ssl_verify off;");

    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 200 /, 'verify off: 200');
    ok($t->grep_log(qr/\[warn\].*"oc_ssl_verify off": the certificate of /
                    . qr/Open Connectors is not verified.* in /
                    . qr/\S+nginx\.conf:\d+/),
       'verify off: warning at start');

    my ($rc, $out) = $t->test_config;
    is($rc, 0, 'verify off: nginx -t passes');
    like($out, qr/\[warn\].*"oc_ssl_verify off"/,
         'verify off: nginx -t warns');
    $t->stop;
}

# configuration checks, with nginx -t
{
    my $t = OCTest->new;

    my $check = sub {
        my ($http, %o) = @_;
        $t->write_conf(oc_conf(%o, http => $http));
        return $t->test_config;
    };

    my ($rc, $out) = $check->("oc_ssl_trusted_certificate $dir/nope.pem;");
    isnt($rc, 0, 'missing CA file: nginx -t fails');
    like($out, qr/\[emerg\]\ open\(\)\ "\Q$dir\E\/nope\.pem"\ failed
                  \ \(2:\ No\ such\ file\ or\ directory\)
                  \ in\ .*nginx\.conf:\d+/x,
         'missing CA file: named');

    ($rc, $out) = $check->("oc_ssl_verify on;\n    oc_ssl_verify on;");
    like($out, qr/"oc_ssl_verify" directive is duplicate/,
         'oc_ssl_verify: duplicate');

    ($rc, $out) = $check->("oc_ssl_trusted_certificate $dir/ca.pem;\n"
                           . "    oc_ssl_trusted_certificate $dir/ca.pem;");
    like($out, qr/"oc_ssl_trusted_certificate" directive is duplicate/,
         'oc_ssl_trusted_certificate: duplicate');

    for my $url (qw(http://api.example.com/elements/api-v2
                    http://10.1.2.3:8080/elements/api-v2
                    http://127.example.com/x)) {
        ($rc, $out) = $check->('', api_url => $url);
        is($rc, 0, "$url: nginx -t passes");
        like($out, qr/\[warn\]\ "oc_api_url"\ is\ plain\ http\ to\ a\ host
                      \ that\ is\ not\ loopback:\ .*unencrypted
                      .*\ in\ .*nginx\.conf:\d+/x,
             "$url: warning");
    }

    for my $url (qw(http://127.0.0.1:9/elements/api-v2
                    http://localhost/elements/api-v2
                    http://[::1]:8080/elements/api-v2
                    https://api.example.com/elements/api-v2)) {
        ($rc, $out) = $check->('', api_url => $url);
        is($rc, 0, "$url: nginx -t passes");
        unlike($out, qr/\[warn\]/, "$url: no warning");
    }
}

done_testing;
