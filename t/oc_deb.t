# The Debian package: make deb builds it, it holds the module, snippet and the users' docs (with working links) where Debian's nginx expects them, its maintainer scripts enable and disable the module, nginx loads the module from the unpacked package, and lintian finds no error.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Find qw(find);
use File::Path qw(make_path);
use Test::More;

use lib 't/lib';
use OCTest;

my $PACKAGE = 'libnginx-mod-http-oc';
my $ABI_FILE = '/usr/share/nginx/src/debian/libnginx-mod.abisubstvars';

# how the module is tested and measured: not for the package's users
my @MAINTAINER_DOCS = qw(testing.md performance.md);

# the package is built for Debian's nginx, whatever nginx the rest of the
# suite runs (OC_TEST_NGINX)
$OCTest::NGINX = '/usr/sbin/nginx';
plan skip_all => 'no Debian nginx at /usr/sbin/nginx'
    unless -x $OCTest::NGINX;

sub run_cmd {
    my ($timeout, @cmd) = @_;
    return OCTest::_run_cmd($timeout, undef, @cmd);
}

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or return undef;
    local $/;
    return scalar <$fh>;
}

my ($version) = (slurp('debian/changelog') // '') =~ /^\S+ \(([^)]+)\)/;
chomp(my $arch = `dpkg --print-architecture`);
my $deb = "build/${PACKAGE}_${version}_$arch.deb";

my ($abi) = (slurp($ABI_FILE) // '') =~ /^nginx:abi=(\S+)$/m;


# ---- the build -------------------------------------------------------------

# A missing build dependency fails this file, with the fix, and not the
# whole suite.
my ($rc, $out) = run_cmd(30, 'dpkg-checkbuilddeps');
if (!is($rc, 0, 'build dependencies installed (dpkg-checkbuilddeps)')) {
    diag "$out\nmake deps (as root) installs them";
    done_testing;
    exit;
}

# dpkg-buildpackage configures nginx and builds the module: minutes on a
# loaded machine
($rc, $out) = run_cmd(900 * $OCTest::SLOW, 'make', '--no-print-directory',
                      '-s', 'deb');
is($rc, 0, 'make deb') or diag($rc < 0 ? "make deb timed out\n$out" : $out);
if (!ok(-f $deb, "make deb built $deb")) {
    done_testing;
    exit;
}


# ---- the control fields ----------------------------------------------------

my %field;
($rc, $out) = run_cmd(10, 'dpkg-deb', '-f', $deb);
while ($out =~ /^(\S+): (.*(?:\n .*)*)/mg) {
    $field{$1} = $2;
}

is($field{Package}, $PACKAGE, 'Package');
is($field{Version}, $version, 'Version is debian/changelog\'s');
is($field{Architecture}, $arch, 'Architecture');
is($field{Section}, 'httpd', 'Section, as Debian\'s module packages');

my @depends = split /,\s*/, $field{Depends} // '';
ok($abi, "nginx ABI read from $ABI_FILE");
ok((grep { $_ eq $abi } @depends), "Depends on the exact nginx ABI ($abi)")
    or diag "Depends: $field{Depends}";
ok((grep { /^libcurl4\b/ } @depends), 'Depends on libcurl4')
    or diag "Depends: $field{Depends}";
ok((grep { /^libcjson1\b/ } @depends), 'Depends on libcjson1')
    or diag "Depends: $field{Depends}";
like($field{Recommends} // '', qr/\bnginx\b/, 'Recommends nginx');


# ---- the files -------------------------------------------------------------

my $t = OCTest->new;
my $dir = $t->testdir;
my $root = "$dir/root";
my $doc = "$root/usr/share/doc/$PACKAGE";

($rc, $out) = run_cmd(10, 'dpkg-deb', '-x', $deb, $root);
is($rc, 0, 'dpkg-deb -x into a temporary root') or diag $out;
($rc, $out) = run_cmd(10, 'dpkg-deb', '-e', $deb, "$dir/DEBIAN");
is($rc, 0, 'dpkg-deb -e') or diag $out;

my $so = "$root/usr/lib/nginx/modules/ngx_oc_module.so";
my $available = "$root/usr/share/nginx/modules-available/mod-http-oc.conf";

ok(-f $so, 'module in /usr/lib/nginx/modules/');
is(slurp($available), "load_module modules/ngx_oc_module.so;\n",
   'load_module snippet in /usr/share/nginx/modules-available/');
ok(-f "$doc/copyright", 'copyright');
like(slurp("$doc/copyright") // '', qr/^License: BSD-2-Clause$/m,
     'copyright names the licence');
ok(-f "$doc/changelog.Debian.gz", 'changelog.Debian.gz');

# the users' docs, laid out as in the source tree, uncompressed so that
# their links work
ok(-f "$doc/README.md", 'docs: README.md') if -f 'README.md';
for my $md (glob 'docs/*.md') {
    (my $name = $md) =~ s{.*/}{};
    if (grep { $_ eq $name } @MAINTAINER_DOCS) {
        ok(!-e "$doc/$md" && !-e "$doc/$md.gz" && !-e "$doc/$name.gz",
           "docs: $name, for maintainers, not shipped");
    } else {
        ok(-f "$doc/$md", "docs: $md");
    }
}

for my $conf (glob 'examples/*.conf') {
    ok(-f "$doc/$conf", "docs: $conf");
}

# every relative link of every shipped Markdown file names a shipped file
my (@md, @broken);
find(sub { push @md, $File::Find::name if /\.md$/ }, $doc);
for my $file (sort @md) {
    my $text = slurp($file) // '';
    while ($text =~ /\[[^\]]+\]\((?![a-z]+:|#)([^)#\s]+)/g) {
        my $path = $1;
        push @broken, "${\ substr($file, length $doc)}: $path"
            unless -e dirname($file) . "/$path";
    }
}
ok(@md >= 2, 'docs: Markdown files found') or diag "in $doc";
is_deeply(\@broken, [], 'docs: every relative link works');
like(slurp("$doc/README.md") // '', qr{\]\(docs/directives\.md\)},
     'docs: README links docs/directives.md, which works')
    if -f 'README.md';


# ---- enabled on install, disabled on removal -------------------------------

# The maintainer scripts, pointed at the temporary root, with a
# dpkg-trigger that only records its arguments.

my $enabled = "$root/etc/nginx/modules-enabled";
make_path($enabled);
$t->write_file('bin/dpkg-trigger', "#!/bin/sh\necho \"\$*\" >> $dir/triggers\n",
               mode => 0755);

sub maintainer_script {
    my ($name, @args) = @_;

    my $script = slurp("$dir/DEBIAN/$name") // return (-1, "no $name");
    $script =~ s{/etc/nginx/}{$root/etc/nginx/}g;
    $script =~ s{/usr/share/nginx/}{$root/usr/share/nginx/}g;
    $t->write_file("$name.sh", $script);

    local $ENV{PATH} = "$dir/bin:$ENV{PATH}";
    return run_cmd(10, '/bin/sh', "$dir/$name.sh", @args);
}

my $link = "$enabled/50-mod-http-oc.conf";

($rc, $out) = maintainer_script('postinst', 'configure', '');
is($rc, 0, 'postinst configure') or diag $out;
is(readlink($link), "$root/usr/share/nginx/modules-available/mod-http-oc.conf",
   'postinst links modules-enabled/50-mod-http-oc.conf to the snippet');
like(slurp("$dir/triggers") // '', qr/^--no-await nginx-reload$/m,
     'postinst triggers an nginx reload');


# ---- nginx loads the module from the unpacked package ----------------------

my $CONF = <<'EOF';
LOAD
%%TEST_GLOBALS%%

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_8080%%;
        server_name  localhost;

        location / {
            oc_pass  off;
            return   200 "ok\n";
        }
    }
}
EOF

# by its path in the temporary root
$t->write_conf($CONF =~ s{LOAD}{load_module $so;}r);

($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t with load_module from the temporary root') or diag $out;

$t->run;
is(http_body(http_get('/')), "ok\n", 'nginx runs with the packaged module');
$t->stop;

# as Debian's nginx.conf does it: the enabled snippets, whose
# "modules/" is the prefix's, which nginx-common links to
# /usr/lib/nginx/modules
symlink("$root/usr/lib/nginx/modules", "$dir/modules")
    or die "symlink: $!";
$t->write_conf($CONF =~ s{LOAD}{include $enabled/*.conf;}r);

($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t with the snippet enabled by postinst') or diag $out;

$t->run;
is(http_body(http_get('/')), "ok\n", 'nginx runs with the enabled snippet');
$t->stop;

($rc, $out) = maintainer_script('prerm', 'remove');
is($rc, 0, 'prerm remove') or diag $out;
ok(!-e $link && -l "$link.removed", 'prerm disables the snippet');

($rc, $out) = $t->test_config;
like($out, qr/unknown directive "oc_pass"/,
     'nginx -t: module no longer loaded once disabled');

($rc, $out) = maintainer_script('postrm', 'purge');
is($rc, 0, 'postrm purge') or diag $out;
ok(!-l $link && !-l "$link.removed", 'postrm purge removes the links');


# ---- lintian ---------------------------------------------------------------

SKIP: {
    my ($lintian) = grep { -x } map { "$_/lintian" } split /:/, $ENV{PATH};
    ok($lintian, 'lintian installed (make deps)')
        or skip 'no lintian', 2;

    ($rc, $out) = run_cmd(120, $lintian, $deb);
    my @tags = grep { /^[A-Z]: / } split /\n/, $out;
    my @errors = grep { /^E: / } @tags;

    is_deeply(\@errors, [], 'lintian: no errors');
    is($rc, 0, 'lintian exit code') or diag $out;
    diag("lintian: $_") for grep { !/^E: / } @tags;
}

done_testing;
