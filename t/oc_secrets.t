#!/usr/bin/perl

# Secrets: file: secrets are read by the master at configuration time (the
# workers never open them), a secret file open to group or others gets a
# warning naming it, a missing or empty one and an env: without "env" fail
# nginx -t, and no secret value appears in nginx -t output, the error log
# or a 503 body.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;

my $USER = 'user-7f3a9c51e2';
my $ORG = 'org-1b2d4e60aa';
my $EMAIL = 'crm-5d1c@acme.example';
my $PASSWORD = 'pd-pass-98e7c1f0';

my $t = OCTest->new;
my $dir = $t->testdir;
my $sim = $t->sim(user_secret => $USER, org_secret => $ORG);

$t->write_file('oc/user.secret', "$USER\n", mode => 0600);
$t->write_file('oc/pd.email', "$EMAIL\n", mode => 0644);
$t->write_file('oc/pd.password', "$PASSWORD\n", mode => 0640);

$ENV{OC_TEST_ORG_SECRET} = $ORG;

my $CONF = <<'EOF';
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
env OC_TEST_ORG_SECRET;
worker_processes 1;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          file:oc/user.secret;
    oc_organization_secret  env:OC_TEST_ORG_SECRET;

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     file:%%TESTDIR%%/oc/pd.email;
        config   pipedrive.password  file:oc/pd.password;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }
    }
}
EOF

$t->write_conf($CONF);

my ($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t passes') or diag($out);

like($out, qr/\[warn\]\ config\ "pipedrive\.email":\ secret\ file
              \ "\Q$dir\E\/oc\/pd\.email"\ is\ accessible\ by\ group
              \ or\ others\ \(mode\ 0644\),\ make\ it\ readable\ by\ its
              \ owner\ only/x,
     'mode 0644: the warning names the file and the directive');
like($out, qr/\[warn\]\ config\ "pipedrive\.password":\ secret\ file
              \ "\Q$dir\E\/oc\/pd\.password"\ is\ accessible\ by\ group
              \ or\ others\ \(mode\ 0640\)/x,
     'mode 0640: warning');
like($out, qr/pd\.email.* in \Q$dir\E\/nginx\.conf:\d+$/m,
     'the warning names the configuration line');
unlike($out, qr/user\.secret/, 'mode 0600: no warning');

for my $secret ($USER, $ORG, $EMAIL, $PASSWORD) {
    unlike($out, qr/\Q$secret\E/, "nginx -t output: no \"$secret\"");
}

# the master reads them; the workers, another user, could not

$t->run;

like(http_get('/crm/contacts'), qr/ 200 /, 'file: and env: secrets work');

my ($inst) = @{ $sim->instances };
is($inst->{configuration}{'pipedrive.password'}, $PASSWORD,
   'the instance got the password from its file');
is($inst->{configuration}{'pipedrive.email'}, $EMAIL,
   'the instance got the email from its file');

SKIP: {
    skip 'not run as root', 1 if $> != 0;
    my ($worker) = $t->worker_pids;
    my ($uid) = (OCTest::_slurp("/proc/$worker/status") // '')
                =~ /^Uid:\s+(\d+)/m;
    isnt($uid, 0, "workers run as uid $uid, which cannot read the 0600 file");
}

# nothing reads the files again: a new token is fetched without them

unlink "$dir/oc/user.secret", "$dir/oc/pd.email", "$dir/oc/pd.password";
$sim->rotate($inst->{id});

like(http_get('/crm/contacts'), qr/ 401 /, 'rotated: upstream 401');
like(http_get('/crm/contacts'), qr/ 200 /,
     'files gone: the platform call still has the secrets');
is($sim->count('GET /instances/{id}'), 1, 'files gone: one re-resolution');

$t->stop;

my $log = $t->error_log;
for my $secret ($USER, $ORG, $EMAIL, $PASSWORD) {
    unlike($log, qr/\Q$secret\E/, "error.log: no \"$secret\"");
}

# rejected secrets: the 503 body and the log give Open Connectors' message
# and never the secret

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    my $wrong = 'wrong-user-3c9d2e';

    (my $conf = $CONF) =~ s/file:oc\/user\.secret/$wrong/;
    $conf =~ s/env:OC_TEST_ORG_SECRET/%%OC_ORG_SECRET%%/;
    $conf =~ s/file:\S+pd\.email/$EMAIL/;
    $conf =~ s/file:oc\/pd\.password/$PASSWORD/;
    $t->write_conf($conf)->run;

    my $r = http_get('/crm/contacts');
    like($r, qr/ 503 /, 'rejected secrets: 503');
    like(http_body($r), qr/Invalid user secret/,
         'rejected secrets: Open Connectors\' message in the body');
    $t->stop;

    for my $secret ($wrong, $sim->org_secret, $EMAIL, $PASSWORD) {
        unlike($r, qr/\Q$secret\E/, "503 response: no \"$secret\"");
        unlike($t->error_log, qr/\Q$secret\E/, "error.log: no \"$secret\"");
    }
}

# what fails nginx -t

{
    my $t = OCTest->new;
    my $dir = $t->testdir;
    $t->write_file('empty.secret', "\n", mode => 0600);

    my $check = sub {
        my ($from, $to) = @_;
        (my $conf = $CONF) =~ s/\Q$from\E/$to/;
        $conf =~ s/file:oc\/user\.secret/u/;
        $conf =~ s/file:\S+\/pd\.(\w+)/$1/g;
        $t->write_conf($conf);
        return $t->test_config;
    };

    my ($rc, $out) = $check->('file:oc/user.secret', 'file:missing.secret');
    isnt($rc, 0, 'missing file: nginx -t fails');
    like($out, qr/\[emerg\]\ oc_user_secret:\ cannot\ read\ secret\ file,
                  \ open\(\)\ "\Q$dir\E\/missing\.secret"\ failed/x,
         'missing file: named');

    ($rc, $out) = $check->('file:oc/user.secret', 'file:empty.secret');
    isnt($rc, 0, 'empty file: nginx -t fails');
    like($out, qr/\[emerg\]\ oc_user_secret:\ secret\ file
                  \ "\Q$dir\E\/empty\.secret"\ is\ empty/x,
         'empty file: named');

    delete local $ENV{OC_TEST_ORG_SECRET};
    ($rc, $out) = $check->('env OC_TEST_ORG_SECRET;', '');
    isnt($rc, 0, 'env: not set, no "env": nginx -t fails');
    like($out, qr/environment\ variable\ "OC_TEST_ORG_SECRET"\ is\ not\ set;
                  \ nginx\ passes\ environment\ variables\ to\ its\ processes
                  \ only\ when\ listed\ with\ "env\ OC_TEST_ORG_SECRET;"/x,
         'env: not set, no "env": the message says to add it')
        or diag($out);
}

done_testing;
