# Configuration: every oc_* directive parses, and nginx -t rejects each bad configuration with a message naming the problem at the right file:line.

use strict;
use warnings;

use Test::More;

use lib 't/lib';
use OCTest;

my $t = OCTest->new;
my $dir = $t->testdir;

# One template; each case replaces the marker lines.  A line whose number
# the error must name carries "# HERE".

my $BASE = <<'EOF';
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
MAIN
events {
}

http {
    %%TEST_GLOBALS_HTTP%%

GLOBALS
HTTP
    server {
        listen       127.0.0.1:%%PORT_8080%%;
        server_name  localhost;
SERVER
        location / {
LOCATION
            return 200 "ok\n";
        }
    }
}
EOF

my $GLOBALS = <<'EOF';
    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
EOF

my $PD = <<'EOF';
    oc_instance pd {
        element  pipedrive;
        config   pipedrive.email     user@example.com;
        config   pipedrive.password  pd-password;
    }
EOF

sub conf {
    my (%part) = @_;
    my $conf = $BASE;

    $part{globals} //= $GLOBALS;

    for my $k (qw(main globals http server location)) {
        my $v = $part{$k} // '';
        $v .= "\n" if length $v && $v !~ /\n\z/;
        my $marker = uc $k;
        $conf =~ s/^$marker\n/$v/m;
    }

    return $conf;
}

# a block: "pd", element pipedrive, auth $auth, the config lines given
sub pd {
    my ($lines, %opt) = @_;
    my $head = $opt{head} // '    oc_instance pd {';
    return "$head\n        element pipedrive;\n$lines    }\n";
}

sub test_conf {
    my (%part) = @_;
    $t->write_conf(conf(%part));
    return $t->test_config;
}

sub good {
    my ($name, %part) = @_;
    my ($rc, $out) = test_conf(%part);
    is($rc, 0, "$name: nginx -t passes") or diag($out);
    return $out;
}

sub bad {
    my ($name, $re, %part) = @_;

    my ($rc, $out) = test_conf(%part);

    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message");

    my ($emerg) = $out =~ /^(nginx: \[emerg\].*)$/m;
    $emerg //= '';

    like($emerg, qr{ in \Q$dir\E/nginx\.conf:\d+$}, "$name: names file:line")
        or diag($out);

    my $conf = join '', map { $_ // '' } values %part;
    if ($conf =~ /# HERE/ && $emerg =~ /:(\d+)$/) {
        my @lines = split /\n/, $t->read_file('nginx.conf');
        like($lines[$1 - 1] // '', qr/# HERE/, "$name: at the right line")
            or diag($emerg);
    }

    return $out;
}


# ---- good configurations ----------------------------------------------------

{
    my ($rc, $out) = test_conf(globals => '');
    is($rc, 0, 'module loaded, no oc_* directive: nginx -t passes');
    (my $rest = $out) =~ s/^nginx: the configuration file .* syntax is ok\n//m;
    $rest =~ s/^nginx: configuration file .* test is successful\n//m;
    is($rest, '', 'module loaded, no oc_* directive: nothing else printed');
}

good('minimal', http => "    oc_instance x {\n        element foo;\n    }");

good('oc_zone and timeouts without any instance',
     globals => "    oc_zone oc:1m;\n    oc_api_timeout 5s;\n");

# the full example of design.md, section 2, with file: and env: secrets

my $USER = 'user-secret-7f3a9c';
my $ORG = 'org-secret-1b2d4e';
my $EMAIL = 'crm@acme.example';
my $PASSWORD = 'pd-password-5e6f7a';

$t->write_file('oc/user.secret', "$USER\n");
$t->write_file('oc/org.secret', "$ORG\r\n");
$t->write_file('oc/pd.email', "$EMAIL\n\n");

$ENV{OC_TEST_PD_PASSWORD} = $PASSWORD;
delete $ENV{OC_TEST_NOT_SET};

my $FULL = <<'EOF';
    oc_api_url              %%OC_API_URL%%/;
    oc_user_secret          file:oc/user.secret;
    oc_organization_secret  file:%%TESTDIR%%/oc/org.secret;

    oc_zone                 oc:1m;
    oc_api_timeout          5s;
    oc_wait_timeout         20s;
    oc_api_max_body         512k;
EOF

my $FULL_HTTP = <<'EOF';
    oc_instance pipedrive {
        element  pipedrive;
        name     acme-crm;
        tags     acme prod;
        auth     emailPassword;
        create   on;
        config   pipedrive.email     file:oc/pd.email;
        config   pipedrive.password  env:OC_TEST_PD_PASSWORD;
        config   filter.response.nulls  true;
    }

    oc_instance other {
        element  hubspot;
        auth     oauth2;
        create   off;
    }

    server {
        listen       127.0.0.1:%%PORT_8081%%;
        oc_pass      other;

        location /plain/ {
            oc_pass  off;
        }
    }
EOF

{
    my $out = good('full example, file: and env: secrets',
                   main => 'env OC_TEST_PD_PASSWORD;',
                   globals => $FULL, http => $FULL_HTTP,
                   location => "            oc_pass pipedrive;\n"
                               . "            location /in/ {\n"
                               . "                oc_pass off;\n"
                               . "            }");

    for my $secret ($USER, $ORG, $EMAIL, $PASSWORD) {
        unlike($out, qr/\Q$secret\E/, "secret \"$secret\" not in output");
    }
}

good('oc_pass before its oc_instance block',
     location => '            oc_pass pd;', http => '', server => '',
     globals => $GLOBALS . "    server {\n        listen 127.0.0.1:"
                . "%%PORT_8082%%;\n        oc_pass pd;\n    }\n" . $PD);

good('auth accessToken',
     http => pd("        auth accessToken;\n"
                . "        config pipedrive.api.token t0ken;\n"));

good('auth oauth2',
     http => pd("        auth oauth2;\n"
                . "        config oauth.api.key k;\n"
                . "        config oauth.api.secret s;\n"
                . "        config oauth.callback.url https://app.example/cb;\n"
                . "        create off;\n"));

good('unknown element is not checked for keys',
     http => "    oc_instance h {\n        element hubspot;\n"
             . "        auth accessToken;\n    }\n");

good('typed properties with good values',
     http => pd("        config pipedrive.email a\@b.c;\n"
                . "        config pipedrive.password p;\n"
                . "        config event.notification.enabled false;\n"
                . "        config filter.response.nulls false;\n"
                . "        config event.vendor.type polling;\n"
                . "        config event.notification.type webhook;\n"
                . "        config event.notification.callback.url "
                . "http://app.example/events;\n"
                . "        config event.poller.refresh_interval 5;\n"));

good('tags over several lines, name, quoted values',
     http => pd("        name \"acme crm\";\n"
                . "        tags a b;\n        tags c;\n"
                . "        config pipedrive.email 'a\@b.c';\n"
                . "        config pipedrive.password \"p w\";\n"));


# ---- oc_api_url and the secrets ----------------------------------------------

bad('oc_api_url missing',
    qr/"oc_api_url" is not set: add it to the http block, oc_instance "pd" needs it/,
    globals => "    oc_user_secret u;\n    oc_organization_secret o;\n",
    http => pd(<<'EOF', head => '    oc_instance pd {  # HERE'));
        config pipedrive.email e;
        config pipedrive.password p;
EOF

bad('oc_user_secret missing',
    qr/"oc_user_secret" is not set: add it to the http block/,
    globals => "    oc_api_url http://oc.example/elements/api-v2;\n"
               . "    oc_organization_secret o;\n",
    http => $PD);

bad('oc_organization_secret missing',
    qr/"oc_organization_secret" is not set: add it to the http block/,
    globals => "    oc_api_url http://oc.example/elements/api-v2;\n"
               . "    oc_user_secret u;\n",
    http => $PD);

bad('all three missing, one message',
    qr/"oc_api_url", "oc_user_secret" and "oc_organization_secret" are not set: add them to the http block/,
    globals => '', http => $PD);

bad('oc_api_url not http(s)', qr/invalid URL "ftp:\/\/oc\.example" in "oc_api_url", it must begin with "http:\/\/" or "https:\/\/"/,
    globals => "    oc_api_url ftp://oc.example;  # HERE\n");

bad('oc_api_url without a host', qr/invalid URL "https:\/\/" in "oc_api_url"/,
    globals => "    oc_api_url https://;  # HERE\n");

bad('oc_api_url repeated', qr/"oc_api_url" directive is duplicate/,
    globals => "    oc_api_url http://a.example;\n"
               . "    oc_api_url http://b.example;  # HERE\n");

bad('oc_user_secret repeated', qr/"oc_user_secret" directive is duplicate/,
    globals => "    oc_user_secret a;\n    oc_user_secret b;  # HERE\n");

bad('oc_api_url in a server block', qr/"oc_api_url" directive is not allowed here/,
    server => "        oc_api_url http://a.example;  # HERE");

bad('secret with a space', qr/oc_user_secret: the secret contains a space, a comma or a control character/,
    globals => "    oc_user_secret \"a b\";  # HERE\n");

$t->write_file('two-lines.secret', "abc\ndef\n");

bad('secret file of two lines', qr/oc_organization_secret: the secret contains a space, a comma or a control character/,
    globals => "    oc_organization_secret file:two-lines.secret;  # HERE\n");


# ---- file: and env: ----------------------------------------------------------

bad('file: that does not exist',
    qr/oc_user_secret: cannot read secret file, open\(\) "\Q$dir\E\/missing\.secret" failed \(2: No such file or directory\)/,
    globals => "    oc_user_secret file:missing.secret;  # HERE\n");

$t->write_file('empty.secret', '');
$t->write_file('newline.secret', "\r\n\n");

bad('file: that is empty',
    qr/oc_organization_secret: secret file "\Q$dir\E\/empty\.secret" is empty/,
    globals => "    oc_organization_secret file:empty.secret;  # HERE\n");

bad('file: with only a line break',
    qr/oc_user_secret: secret file "\Q$dir\E\/newline\.secret" is empty/,
    globals => "    oc_user_secret file:%%TESTDIR%%/newline.secret;  # HERE\n");

bad('file: a directory', qr/oc_user_secret: secret file "\Q$dir\E\/oc" is not a regular file/,
    globals => "    oc_user_secret file:oc;  # HERE\n");

bad('file: without a name', qr/oc_user_secret: no file name after "file:"/,
    globals => "    oc_user_secret file:;  # HERE\n");

bad('config file: that does not exist',
    qr/config "pipedrive\.password": cannot read secret file, open\(\) "\Q$dir\E\/nope" failed/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password file:nope;  # HERE\n"));

bad('env: not set',
    qr/oc_user_secret: environment variable "OC_TEST_NOT_SET" is not set; nginx passes environment variables to its processes only when listed with "env OC_TEST_NOT_SET;" in the main context/,
    globals => "    oc_user_secret env:OC_TEST_NOT_SET;  # HERE\n");

bad('env: not set, though listed with env',
    qr/oc_user_secret: environment variable "OC_TEST_NOT_SET" is not set in the environment nginx was started with/,
    main => 'env OC_TEST_NOT_SET;',
    globals => "    oc_user_secret env:OC_TEST_NOT_SET;  # HERE\n");

bad('config env: not set',
    qr/config "pipedrive\.password": environment variable "OC_TEST_NOT_SET" is not set/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password env:OC_TEST_NOT_SET;  # HERE\n"));

bad('env: without a name', qr/oc_user_secret: no variable name after "env:"/,
    globals => "    oc_user_secret env:;  # HERE\n");

bad('empty literal', qr/oc_user_secret: empty value/,
    globals => "    oc_user_secret \"\";  # HERE\n");


# ---- curly quotes ------------------------------------------------------------

my $CURLY = qr/contains curly quotes, a pasted value often carries them/;

bad('curly double quotes in a secret', qr/oc_user_secret: the value $CURLY/,
    globals => "    oc_user_secret \xe2\x80\x9cabc\xe2\x80\x9d;  # HERE\n");

bad('curly single quotes in a config value',
    qr/config "pipedrive\.email": the value $CURLY/,
    http => pd("        config pipedrive.email \xe2\x80\x98a\@b.c\xe2\x80\x99;  # HERE\n"
               . "        config pipedrive.password p;\n"));

bad('curly quotes in oc_api_url', qr/oc_api_url: the value $CURLY/,
    globals => "    oc_api_url \xe2\x80\x9chttp://a.example\xe2\x80\x9d;  # HERE\n");

bad('curly quotes in a tag', qr/tags: the value $CURLY/,
    http => pd("        tags \xe2\x80\x9cprod\xe2\x80\x9d;  # HERE\n"
               . "        config pipedrive.email e;\n"
               . "        config pipedrive.password p;\n"));

$t->write_file('curly.secret', "SECRET-MARK-\xe2\x80\x9d\n");

{
    my $out = bad('curly quotes in a file: value',
        qr/config "pipedrive\.password": the value of "file:curly\.secret" $CURLY/,
        http => pd("        config pipedrive.email e;\n"
                   . "        config pipedrive.password file:curly.secret;  # HERE\n"));

    unlike($out, qr/SECRET-MARK/, 'a file: value is never printed');
}


# ---- oc_instance -------------------------------------------------------------

bad('duplicate oc_instance',
    qr/duplicate oc_instance "pd", the first is at \Q$dir\E\/nginx\.conf:\d+/,
    http => $PD . "    oc_instance pd {  # HERE\n        element x;\n    }\n");

bad('unknown directive in oc_instance', qr/unknown directive "elemnt"/,
    http => "    oc_instance pd {\n        elemnt pipedrive;  # HERE\n    }\n");

bad('element missing',
    qr/oc_instance "pd" has no "element", add one such as "element pipedrive;"/,
    http => "    oc_instance pd {  # HERE\n        name x;\n    }\n");

bad('element repeated', qr/"element" directive is duplicate/,
    http => "    oc_instance pd {\n        element pipedrive;\n"
            . "        element hubspot;  # HERE\n    }\n");

for my $d ('name x', 'auth oauth2', 'create on') {
    my ($word) = $d =~ /^(\w+)/;
    bad("$word repeated", qr/"$word" directive is duplicate/,
        http => pd("        $d;\n        $d;  # HERE\n"));
}

bad('tag repeated', qr/tag "a" is duplicate/,
    http => pd("        tags a b;\n        tags c a;  # HERE\n"));

bad('unknown auth',
    qr/invalid value "password" in "auth" directive, it must be "emailPassword", "accessToken" or "oauth2"/,
    http => pd("        auth password;  # HERE\n"));

bad('config key repeated', qr/config "pipedrive\.email" is duplicate/,
    http => pd("        config pipedrive.email a;\n"
               . "        config pipedrive.email b;  # HERE\n"));

bad('config authentication.type',
    qr/config "authentication\.type" must not be set, use the "auth" directive instead/,
    http => pd("        config authentication.type oauth2;  # HERE\n"));

bad('wrong number of arguments', qr/invalid number of arguments in "config" directive/,
    http => pd("        config pipedrive.email;  # HERE\n"));

bad('element with two values', qr/invalid number of arguments in "element" directive/,
    http => "    oc_instance pd {\n        element a b;  # HERE\n    }\n");

bad('create with a bad value', qr/invalid value "maybe" in "create" directive, it must be "on" or "off"/,
    http => pd("        create maybe;  # HERE\n"));

bad('block inside oc_instance', qr/unexpected "\{"/,
    http => pd("        config x {  # HERE\n        }\n"));

bad('oc_instance in a server block', qr/"oc_instance" directive is not allowed here/,
    server => "        oc_instance x {  # HERE\n            element y;\n        }");

bad('oc_instance named off', qr/oc_instance name "off" is reserved/,
    http => "    oc_instance off {  # HERE\n        element y;\n    }\n");

bad('empty name', qr/oc_instance "pd" has an empty "name"/,
    http => pd("        name \"\";\n", head => '    oc_instance pd {  # HERE'));


# ---- required configuration of known elements --------------------------------

bad('pipedrive emailPassword: both keys missing, one message',
    qr/oc_instance "pd" \(auth emailPassword\) is missing config pipedrive\.email, pipedrive\.password, add "config KEY VALUE;" for each/,
    http => pd("        tags a;\n", head => '    oc_instance pd {  # HERE'));

{
    my $out = bad('pipedrive emailPassword: one key missing',
        qr/oc_instance "pd" \(auth emailPassword\) is missing config pipedrive\.password,/,
        http => pd("        config pipedrive.email e;\n",
                   head => '    oc_instance pd {  # HERE'));
    unlike($out, qr/missing config pipedrive\.email/, 'only the missing key');
}

bad('pipedrive accessToken',
    qr/oc_instance "pd" \(auth accessToken\) is missing config pipedrive\.api\.token,/,
    http => pd("        auth accessToken;\n        config pipedrive.email e;\n"
               . "        config pipedrive.password p;\n",
               head => '    oc_instance pd {  # HERE'));

bad('pipedrive oauth2',
    qr/oc_instance "pd" \(auth oauth2\) is missing config oauth\.api\.key, oauth\.api\.secret, oauth\.callback\.url,/,
    http => pd("        auth oauth2;\n", head => '    oc_instance pd {  # HERE'));

bad('oauth.callback.url not a URL',
    qr/config "oauth\.callback\.url" must be an http:\/\/ or https:\/\/ URL, not "localhost\/cb"/,
    http => pd("        auth oauth2;\n        config oauth.api.key k;\n"
               . "        config oauth.api.secret s;\n"
               . "        config oauth.callback.url localhost/cb;  # HERE\n"));


# ---- typed common properties -------------------------------------------------

my %TYPED = (
    'event.notification.enabled yes' =>
        qr/config "event\.notification\.enabled" must be "true" or "false", not "yes"/,
    'filter.response.nulls 1' =>
        qr/config "filter\.response\.nulls" must be "true" or "false", not "1"/,
    'event.vendor.type webhooks' =>
        qr/config "event\.vendor\.type" must be "webhook" or "polling", not "webhooks"/,
    'event.notification.type polling' =>
        qr/config "event\.notification\.type" must be "webhook", not "polling"/,
    'event.notification.callback.url ftp://app.example/e' =>
        qr/config "event\.notification\.callback\.url" must be an http:\/\/ or https:\/\/ URL, not "ftp:/,
);

for my $kv (sort keys %TYPED) {
    bad("config $kv", $TYPED{$kv},
        http => pd("        config $kv;  # HERE\n"));
}

$t->write_file('nulls.txt', "yes\n");

bad('typed property read from a file',
    qr/config "filter\.response\.nulls" must be "true" or "false", check "file:nulls\.txt"/,
    http => pd("        config filter.response.nulls file:nulls.txt;  # HERE\n"));


# ---- oc_zone ----------------------------------------------------------------

bad('oc_zone without a size', qr/invalid oc_zone "oc", it must be NAME:SIZE/,
    globals => "    oc_zone oc;  # HERE\n");

bad('oc_zone with a bad size', qr/invalid zone size "oc:lots"/,
    globals => "    oc_zone oc:lots;  # HERE\n");

bad('oc_zone below 8 pages', qr/zone "oc" is too small/,
    globals => "    oc_zone oc:4k;  # HERE\n");

bad('oc_zone repeated', qr/"oc_zone" directive is duplicate/,
    globals => "    oc_zone a:1m;\n    oc_zone b:1m;  # HERE\n");

bad('oc_zone too small for its instances',
    qr/oc_zone "small" is too small for 20 oc_instance blocks, it needs at least \d+ bytes/,
    globals => $GLOBALS . "    oc_zone small:32k;  # HERE\n",
    http => join('', map { "    oc_instance i$_ {\n        element e;\n    }\n" }
                         1 .. 20));

for my $d (qw(oc_api_timeout oc_wait_timeout oc_recheck_interval
              oc_oauth_state_timeout oc_api_max_body))
{
    bad("$d 0", qr/"$d" directive must be greater than zero/,
        globals => $GLOBALS . "    $d 0;  # HERE\n");
}

good('oc_zone large enough', globals => $GLOBALS . "    oc_zone big:1m;\n",
     http => $PD);

bad('oc_api_timeout invalid', qr/"oc_api_timeout" directive invalid value/,
    globals => "    oc_api_timeout soon;  # HERE\n");


# ---- oc_pass -----------------------------------------------------------------

bad('oc_pass naming an undeclared instance',
    qr/oc_pass: unknown oc_instance "nope" in \Q$dir\E\/nginx\.conf:\d+/,
    http => $PD, location => "            oc_pass nope;  # HERE");

bad('oc_pass with no oc_instance at all',
    qr/oc_pass: unknown oc_instance "pd", no oc_instance block is declared, add "oc_instance pd \{ element \.\.\.; \}" to the http block/,
    globals => '', location => "            oc_pass pd;  # HERE");

bad('oc_pass in a server block naming an undeclared instance',
    qr/oc_pass: unknown oc_instance "nope"/,
    http => $PD, server => "        oc_pass nope;  # HERE");

bad('oc_pass repeated', qr/"oc_pass" directive is duplicate/,
    http => $PD,
    location => "            oc_pass pd;\n            oc_pass off;  # HERE");

bad('oc_pass in the http block', qr/"oc_pass" directive is not allowed here/,
    http => $PD . "    oc_pass pd;  # HERE\n");


# ---- events ------------------------------------------------------------------

my $EV_ON = "        config event.notification.enabled true;\n";
my $EV_URL = "        config event.notification.callback.url "
             . "https://hooks.example/oc;\n";
my $EV_KEY = "        config event.notification.signature.key s3cret;\n";

# "pd" with its Pipedrive keys and the event lines given
sub ev {
    my ($lines, %opt) = @_;
    return pd("        config pipedrive.email e;\n"
              . "        config pipedrive.password p;\n$lines", %opt);
}

my $EV = ev($EV_ON . $EV_URL . $EV_KEY);

bad('events enabled without a callback URL',
    qr/oc_instance "pd" enables events but has no config event\.notification\.callback\.url, add the URL Open Connectors is to send them to/,
    http => ev($EV_ON, head => '    oc_instance pd {  # HERE'));

my $out = good('events enabled without a signature key',
               http => ev($EV_ON . $EV_URL));
like($out, qr/^nginx: \[warn\] oc_instance "pd" enables events without config event\.notification\.signature\.key, unsigned events cannot be verified in \Q$dir\E\/nginx\.conf:\d+$/m,
     'events enabled without a signature key: a warning');

$out = good('events enabled and signed', http => $EV);
unlike($out, qr/\[warn\]/, 'events enabled and signed: no warning');

$out = good('events disabled need no callback URL',
            http => ev("        config event.notification.enabled false;\n"));
unlike($out, qr/\[warn\]/, 'events disabled: no warning');

bad('oc_events naming an undeclared instance',
    qr/oc_events: unknown oc_instance "nope" in \Q$dir\E\/nginx\.conf:\d+/,
    http => $EV, location => "            oc_events nope;  # HERE");

bad('oc_events with no oc_instance at all',
    qr/oc_events: unknown oc_instance "pd", no oc_instance block is declared/,
    globals => '', location => "            oc_events pd;  # HERE");

bad('oc_events with an instance without a signature key',
    qr/oc_events: oc_instance "pd" has no config event\.notification\.signature\.key, its events cannot be verified/,
    http => ev($EV_ON . $EV_URL),
    location => "            oc_events pd;  # HERE");

$out = good('oc_events with events not enabled', http => ev($EV_KEY),
            location => '            oc_events pd;');
like($out, qr/^nginx: \[warn\] oc_events: oc_instance "pd" does not set config event\.notification\.enabled true, Open Connectors sends it no events in \Q$dir\E\/nginx\.conf:\d+$/m,
     'oc_events with events not enabled: a warning');

bad('oc_events repeated', qr/"oc_events" directive is duplicate/,
    http => $EV,
    location => "            oc_events pd;\n            oc_events off;  # HERE");

bad('oc_events in a server block', qr/"oc_events" directive is not allowed here/,
    http => $EV, server => "        oc_events pd;  # HERE");

$out = good('oc_events', http => $EV, location => '            oc_events pd;');
unlike($out, qr/\[warn\]/, 'oc_events: no warning');

good('oc_events off', http => $PD, location => '            oc_events off;');

bad('oc_pass inherited by an oc_events location',
    qr/oc_pass "pd" applies to the oc_events location "\/" and would send the instance token to the application, add "oc_pass off;" to that location/,
    http => $EV, server => '        oc_pass pd;',
    location => "            oc_events pd;  # HERE");

bad('oc_pass and oc_events in one location',
    qr/oc_pass "pd" applies to the oc_events location "\/"/,
    http => $EV,
    location => "            oc_events pd;  # HERE\n            oc_pass pd;");

good('oc_pass off in an oc_events location', http => $EV,
     server => '        oc_pass pd;',
     location => "            oc_events pd;\n            oc_pass off;");

bad('oc_events_replay_window invalid',
    qr/"oc_events_replay_window" directive invalid value/,
    globals => $GLOBALS . "    oc_events_replay_window soon;  # HERE\n");

bad('oc_events_replay_max 0', qr/value must be between 1 and 1048576/,
    globals => $GLOBALS . "    oc_events_replay_max 0;  # HERE\n");

$out = bad('oc_zone too small for the replay store',
    qr/oc_zone "small" is too small for 1 oc_instance blocks and 100000 event ids \(oc_events_replay_max\), it needs at least \d+ bytes/,
    globals => $GLOBALS . "    oc_zone small:1m;  # HERE\n"
               . "    oc_events_replay_max 100000;\n",
    http => $EV, location => '            oc_events pd;');

# the size asked for is enough: the zone is made and filled at nginx -t
my ($needed) = $out =~ /it needs at least (\d+) bytes/;
good('oc_zone of exactly the size asked for',
     globals => $GLOBALS . "    oc_zone exact:$needed;\n"
                . "    oc_events_replay_max 100000;\n",
     http => $EV, location => '            oc_events pd;');

good('no replay store without oc_events',
     globals => $GLOBALS . "    oc_zone small:64k;\n"
                . "    oc_events_replay_max 100000;\n",
     http => $EV);

good('no replay store with oc_events_replay_window 0',
     globals => $GLOBALS . "    oc_zone small:64k;\n"
                . "    oc_events_replay_max 100000;\n"
                . "    oc_events_replay_window 0;\n",
     http => $EV, location => '            oc_events pd;');


# ---- mistakes nginx -t warns about or refuses (issue 14) ---------------------

# a warning: nginx -t passes, the [warn] line names the fix and file:line
sub warns {
    my ($name, $re, %part) = @_;

    my ($rc, $out) = test_conf(%part);

    is($rc, 0, "$name: nginx -t passes") or diag($out);

    my ($warn) = grep { /^nginx: \[warn\]/ && $_ =~ $re } split /\n/, $out;
    $warn //= '';

    like($warn, $re, "$name: warning") or diag($out);
    like($warn, qr{ in \Q$dir\E/nginx\.conf:\d+$}, "$name: names file:line");

    my $conf = join '', map { $_ // '' } values %part;
    if ($conf =~ /# HERE/ && $warn =~ /:(\d+)$/) {
        my @lines = split /\n/, $t->read_file('nginx.conf');
        like($lines[$1 - 1] // '', qr/# HERE/, "$name: at the right line");
    }

    return $out;
}

sub quiet {
    my ($name, %part) = @_;
    my $out = good($name, %part);
    unlike($out, qr/\[warn\]/, "$name: no warning");
}

my $API = "    oc_api_url              %%OC_API_URL%%;\n";
my $ORG_LINE = "    oc_organization_secret  %%OC_ORG_SECRET%%;\n";

# a secret or config value that names an existing file

warns('secret literal naming a file, relative',
    qr/oc_user_secret: the value is the name of the file "\Q$dir\E\/oc\/user\.secret" and is sent as it is, did you mean "file:oc\/user\.secret"\?/,
    globals => $API . "    oc_user_secret oc/user.secret;  # HERE\n" . $ORG_LINE,
    http => $PD);

warns('secret literal naming a file, absolute',
    qr/oc_organization_secret: the value is the name of the file "\Q$dir\E\/oc\/org\.secret" and is sent as it is, did you mean "file:\Q$dir\E\/oc\/org\.secret"\?/,
    globals => $API . "    oc_user_secret %%OC_USER_SECRET%%;\n"
               . "    oc_organization_secret %%TESTDIR%%/oc/org.secret;  # HERE\n",
    http => $PD);

warns('config value naming a file',
    qr/config "pipedrive\.password": the value is the name of the file "\Q$dir\E\/oc\/pd\.email" and is sent as it is, did you mean "file:oc\/pd\.email"\?/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password oc/pd.email;  # HERE\n"));

quiet('secret literal naming a directory', http => $PD,
      globals => $API . "    oc_user_secret oc;\n" . $ORG_LINE);

chmod 0600, "$dir/oc/user.secret";
quiet('secrets as file: and plain values', http => $PD,
      globals => $API . "    oc_user_secret file:oc/user.secret;\n"
                 . $ORG_LINE);

# oc_pass where nothing is proxied

warns('oc_pass without proxy_pass',
    qr/oc_pass "pd" in location "\/" without proxy_pass: the token is for a proxied request, this location serves files or "return", add "proxy_pass URL;" to that location/,
    http => $PD, location => "            oc_pass pd;  # HERE");

quiet('oc_pass with proxy_pass to loopback', http => $PD,
      location => "            oc_pass pd;\n"
                  . "            proxy_pass http://127.0.0.1:%%PORT_8081%%/;");

quiet('oc_pass inherited by a location without proxy_pass', http => $PD,
      server => "        oc_pass pd;\n"
                . "        location /p {\n"
                . "            proxy_pass http://127.0.0.1:%%PORT_8081%%/;\n"
                . "        }");

quiet('oc_pass with oc_status in the same location', http => $PD,
      location => "            oc_pass pd;\n            oc_status;");

# the secrets over plain http to another host

warns('oc_pass to a plain http address that is not loopback',
    qr/oc_pass "pd" in location "\/" proxies over plain http to "192\.0\.2\.1", which is not loopback: the Open Connectors secrets and the instance token cross the network unencrypted, use "proxy_pass https:\/\/\.\.\." in/,
    http => $PD, location => "            oc_pass pd;  # HERE\n"
                             . "            proxy_pass http://192.0.2.1/;");

warns('oc_pass inherited from the server, plain http upstream block',
    qr/oc_pass "pd" in location "\/" proxies over plain http to "remote", which is not loopback/,
    http => $PD . "    upstream remote {\n        server 127.0.0.1:1;\n"
                . "        server 192.0.2.1:80;\n    }\n",
    server => "        oc_pass pd;  # HERE",
    location => "            proxy_pass http://remote;");

{
    # many locations inherit it: each warning still names the server's line
    my $locs = join '', map {
        "        location /l$_/ {\n"
        . "            proxy_pass http://127.0.0.1:%%PORT_8081%%/;\n"
        . "        }\n"
    } 1 .. 8;

    my $out = warns('oc_pass inherited by a nested location, plain http',
        qr/oc_pass "pd" in location "\/n\/in\/" proxies over plain http to "192\.0\.2\.1", which is not loopback/,
        http => $PD,
        server => "        oc_pass pd;  # HERE\n" . $locs
                  . "        location /n/ {\n"
                  . "            proxy_pass http://127.0.0.1:%%PORT_8081%%/;\n"
                  . "            location /n/in/ {\n"
                  . "                proxy_pass http://192.0.2.1/;\n"
                  . "            }\n        }");
    is(scalar(() = $out =~ /\[warn\]/g), 1, 'nested location: one warning');
}

quiet('oc_pass to an upstream block on loopback',
      http => $PD . "    upstream near {\n        server 127.0.0.1:1;\n"
                  . "        server localhost:2;\n    }\n",
      location => "            oc_pass pd;\n            proxy_pass http://near;");

quiet('oc_pass over https', http => $PD,
      location => "            oc_pass pd;\n"
                  . "            proxy_pass https://192.0.2.1/;");

quiet('plain http without oc_pass', http => $PD,
      location => "            proxy_pass http://192.0.2.1/;");

# oc_api_url without the API path

warns('oc_api_url without /elements/api-v2',
    qr/"oc_api_url" "http:\/\/127\.0\.0\.1:9" does not end in "\/elements\/api-v2", Open Connectors answers 404 to every call under another path, write it as "https:\/\/HOST\/elements\/api-v2"/,
    globals => "    oc_api_url http://127.0.0.1:9/;  # HERE\n"
               . "    oc_user_secret %%OC_USER_SECRET%%;\n" . $ORG_LINE,
    http => $PD);

quiet('oc_api_url with /elements/api-v2/', http => $PD,
      globals => "    oc_api_url %%OC_API_URL%%/;\n"
                 . "    oc_user_secret %%OC_USER_SECRET%%;\n" . $ORG_LINE);

# a typo in a configuration key Open Connectors would ignore

warns('config key one letter off',
    qr/config "pipedrive\.api\.tokn" is not a key Open Connectors knows and is ignored by it, did you mean "pipedrive\.api\.token"\?/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password p;\n"
               . "        config pipedrive.api.tokn t;  # HERE\n"));

warns('config key with two letters swapped',
    qr/config "filter\.response\.nluls" is not a key Open Connectors knows and is ignored by it, did you mean "filter\.response\.nulls"\?/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password p;\n"
               . "        config filter.response.nluls true;  # HERE\n"));

warns('event key in the wrong case',
    qr/config "Event\.Notification\.Enabled" is not a key Open Connectors knows and is ignored by it, did you mean "event\.notification\.enabled"\?/,
    http => pd("        config pipedrive.email e;\n"
               . "        config pipedrive.password p;\n"
               . "        config Event.Notification.Enabled false;  # HERE\n"));

quiet('config keys known or far from any known', http =>
      pd("        config pipedrive.email e;\n"
         . "        config pipedrive.password p;\n"
         . "        config base.url https://api.pipedrive.com/v1;\n"
         . "        config event.poller.refresh_interval 5;\n"
         . "        config my.custom.setting x;\n"
         . "        config a.b c;\n"));

# oc_pass reaching a location whose requests it would refuse

my $OA = "    oc_instance pd {\n        element pipedrive;\n"
         . "        auth oauth2;\n        config oauth.api.key k;\n"
         . "        config oauth.api.secret s;\n"
         . "        config oauth.callback.url https://app.example/cb;\n    }\n";

bad('oc_pass inherited by an oc_oauth_callback location',
    qr/oc_pass "pd" applies to the oc_oauth_callback location "\/" and would refuse its requests until consent is given, so consent is impossible, add "oc_pass off;" to that location/,
    http => $OA, server => "        oc_pass pd;  # HERE",
    location => "            oc_oauth_callback pd;");

bad('oc_pass in an oc_oauth_start location',
    qr/oc_pass "pd" applies to the oc_oauth_start location "\/"/,
    http => $OA,
    location => "            oc_oauth_start pd;\n            oc_pass pd;  # HERE");

good('oc_pass off in the OAuth locations', http => $OA,
     server => "        oc_pass pd;\n"
               . "        location /start {\n            oc_pass off;\n"
               . "            oc_oauth_start pd;\n        }",
     location => "            oc_pass off;\n            oc_oauth_callback pd;");


done_testing;
