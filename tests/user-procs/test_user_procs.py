# SPDX-License-Identifier: MIT
"""Sessions of users with their own uid run in a process of that uid.

poplard runs as root with its workers as nobody; each test user has a
uid of its own (numeric, with no account: the password database gives
uid= and gid=) and a home and Maildir that only that uid can enter.  So
a session that reads its mail at all proves it ran with the user's uid,
and one user's tricks with paths can reach nothing of another's.
Root only: without root there are no uids to switch to.
"""

import hashlib
import os
import poplib
import signal
import stat
import sys
import time
import unittest

import poplartest
import tlstest
from poplartest import PoplarTestCase, crlf, wait_until

UID_A, UID_B = 61001, 61002
WORKER = "nobody"


def file_state(path):
    """Content hash, mode, owner and link count of @path (not followed)."""
    st = os.lstat(path)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return digest, stat.S_IMODE(st.st_mode), st.st_uid, st.st_nlink


def no_new_privs(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("NoNewPrivs:"):
                return line.split()[1] == "1"
    return False


def poplard_uids(root_pid):
    """{pid: uid} of the poplard processes under @root_pid."""
    out = {}
    for pid in poplartest.process_tree(root_pid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        out[pid] = int(line.split()[1])
        except OSError:
            pass
    return out


@unittest.skipUnless(os.geteuid() == 0, "switching uids needs root")
class UserProcessTest(PoplarTestCase):

    def make_server(self, extra_users=(), **server_keys):
        s = tlstest.TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        os.chmod(s.dir, 0o755)  # users traverse it to reach their homes
        self.big = b"Subject: big\n\n" + b"".join(
            b"line %d .with a leading dot after the number\n" % i
            for i in range(60000))
        self.a = self.add(s, "alice", UID_A, [b"Subject: for alice\n\nA\n",
                                              self.big])
        self.b = self.add(s, "bob", UID_B, [b"Subject: for bob\n\nB\n"])
        for name, uid, messages in extra_users:
            self.add(s, name, uid, messages)
        os.chown(s.passwd, self.worker_uid(), -1)
        keys = {"user": WORKER, "group": "nogroup", "allow-root": None,
                "user-process-idle": "1s"}
        keys.update(server_keys)
        s.start(server=keys)
        return s

    @staticmethod
    def worker_uid():
        import pwd
        return pwd.getpwnam(WORKER).pw_uid

    def add(self, s, name, uid, messages, mail=None):
        user = s.add_user(name, "pw", messages, mail=mail,
                          extra="uid=%d gid=%d" % (uid, uid))
        os.chmod(os.path.dirname(user.home), 0o755)
        for root, dirs, files in os.walk(user.home):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), uid, uid)
        os.chown(user.home, uid, uid)
        os.chmod(user.home, 0o700)
        return user

    # -- what a user gets

    def test_each_user_reads_their_own_mail_with_their_own_uid(self):
        s = self.make_server()
        pa = s.login("alice", "pw")
        pb = s.login("bob", "pw")
        try:
            self.assertEqual(pa.stat()[0], 2)
            self.assertEqual(b"\r\n".join(pa.retr(1)[1]) + b"\r\n",
                             crlf(b"Subject: for alice\n\nA\n"))
            self.assertEqual(pb.stat()[0], 1)
            uids = set(poplard_uids(s.proc.pid).values())
            self.assertIn(UID_A, uids)
            self.assertIn(UID_B, uids)
            self.assertIn(0, uids)                  # the master
            self.assertIn(self.worker_uid(), uids)  # the worker
            for pid, uid in poplard_uids(s.proc.pid).items():
                if pid != s.proc.pid:
                    self.assertTrue(no_new_privs(pid), "pid %d (uid %d) may "
                                    "gain privileges" % (pid, uid))
        finally:
            pa.quit()
            pb.quit()
        s.wait_for_log(r"served as uid %d gid %d" % (UID_A, UID_A))

    def test_tls_sessions_are_relayed_byte_exact(self):
        s = self.make_server()
        for connect in (s.pop3s, s.stls):
            p = connect()
            p.user("alice")
            p.pass_("pw")
            lines = p.retr(2)[1]
            p.quit()
            self.assertEqual(b"\r\n".join(lines) + b"\r\n", crlf(self.big))

    def test_pipelined_login_goes_on_in_the_user_process(self):
        s = self.make_server()
        with s.conn() as c:
            c.greeting()
            c.send(b"USER alice\r\nPASS pw\r\nSTAT\r\nUIDL\r\nQUIT\r\n")
            self.assertTrue(c.reply().startswith("+OK"))
            self.assertTrue(c.reply().startswith("+OK Logged in, 2"))
            self.assertTrue(c.reply().startswith("+OK 2 "))
            status = c.reply()
            body = c.body()
            self.assertTrue(status.startswith("+OK"))
            self.assertEqual(len(body.splitlines()), 2)
            self.assertTrue(c.reply().startswith("+OK"))

    def test_idle_user_process_ends(self):
        s = self.make_server()
        s.login("alice", "pw").quit()
        gone = wait_until(lambda: UID_A not in poplard_uids(s.proc.pid).values(),
                          10)
        self.assertTrue(gone, "the process of uid %d outlived its idle "
                        "time" % UID_A)
        # and the next login starts a new one
        p = s.login("alice", "pw")
        self.assertEqual(p.stat()[0], 2)
        p.quit()

    # -- what a user must not reach

    def test_maildir_symlinked_to_another_users_is_refused(self):
        s = self.make_server()
        bob_files = sorted(os.listdir(os.path.join(self.b.home, "Maildir",
                                                   "new")))
        victim = os.path.join(self.b.home, "Maildir")
        link = os.path.join(self.a.home, "Maildir")
        os.rename(link, link + ".own")
        os.symlink(victim, link)
        os.lchown(link, UID_A, UID_A)
        with self.assertRaises(poplib.error_proto) as e:
            s.login("alice", "pw")
        self.assertRegex(e.exception.args[0], rb"\[SYS/(PERM|TEMP)\]")
        self.assertEqual(bob_files, sorted(os.listdir(
            os.path.join(victim, "new"))))
        p = s.login("bob", "pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()

    def test_mbox_symlinked_to_a_root_only_file_is_refused(self):
        secret_dir = os.path.join(poplartest.tempfile.gettempdir(),
                                  "poplar-secret-%d" % os.getpid())
        os.makedirs(secret_dir, mode=0o700, exist_ok=True)
        self.addCleanup(poplartest.shutil.rmtree, secret_dir, True)
        target = os.path.join(secret_dir, "secret")
        with open(target, "wb") as f:
            f.write(b"From root@x Thu Jan  1 00:00:00 2026\n"
                    b"Subject: root only\n\nsecret\n")
        os.chmod(target, 0o600)
        before = file_state(target)
        beside = sorted(os.listdir(secret_dir))
        s = tlstest.TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        os.chmod(s.dir, 0o755)
        user = self.add(s, "mallory", UID_A, [], mail="mbox:%h/mbox")
        link = os.path.join(user.home, "mbox")
        os.symlink(target, link)
        os.lchown(link, UID_A, UID_A)
        os.chown(s.passwd, self.worker_uid(), -1)
        load = ["auth-passwd-file", "store-maildir", "store-mbox"]
        if not any(p.endswith("/store-mbox.so") for p in poplartest.PLUGINS):
            self.skipTest("store-mbox is not built")
        s.start(server={"user": WORKER, "group": "nogroup",
                        "allow-root": None}, load=load)
        for attempt in ("RETR", "DELE"):
            try:
                p = s.login("mallory", "pw")
            except poplib.error_proto as e:
                self.assertRegex(e.args[0], rb"\[SYS/(PERM|TEMP)\]")
                continue
            try:  # a store that lists nothing is as good
                self.assertEqual(p.stat()[0], 0)
            finally:
                p.quit()
        self.assertEqual(before, file_state(target))
        self.assertEqual(beside, sorted(os.listdir(secret_dir)))

    def test_debian_spool_served_and_deleted_with_the_users_uid(self):
        """/var/mail root:mail 2775 with USER:mail 0660 mailboxes, workers
        as nobody: the user's process (with mail-privileged-group) reads
        and deletes, keeps owner, group and mode, and leaves no lock; a
        link planted in the spool for another user is refused."""
        if not any(p.endswith("/store-mbox.so") for p in poplartest.PLUGINS):
            self.skipTest("store-mbox is not built")
        import grp
        mail_gid = grp.getgrnam("mail").gr_gid
        s = tlstest.TlsServer()
        self._servers.append(s)
        self.addCleanup(self._cleanup_server, s)
        os.chmod(s.dir, 0o755)
        spool = os.path.join(s.dir, "var", "mail")
        os.makedirs(spool)
        os.chmod(os.path.dirname(spool), 0o755)
        os.chown(spool, 0, mail_gid)
        os.chmod(spool, 0o2775)
        self.add(s, "alice", UID_A, [])
        self.add(s, "eve", UID_B, [])
        mbox = os.path.join(spool, "alice")
        with open(mbox, "wb") as f:
            f.write(b"From a@x Thu Jan  1 00:00:00 2026\nSubject: one\n\n1\n"
                    b"\nFrom a@x Thu Jan  1 00:00:00 2026\nSubject: two\n\n2\n")
        os.chown(mbox, UID_A, mail_gid)
        os.chmod(mbox, 0o660)
        os.symlink(mbox, os.path.join(spool, "eve"))
        os.chown(s.passwd, self.worker_uid(), -1)
        s.start(server={"user": WORKER, "group": "nogroup",
                        "allow-root": None, "mail": "mbox:%s/%%u" % spool,
                        "mail-privileged-group": "mail"},
                load=["auth-passwd-file", "store-maildir", "store-mbox"])
        before = file_state(mbox)
        with self.assertRaises(poplib.error_proto) as e:
            s.login("eve", "pw")
        self.assertIn(b"[SYS/PERM]", e.exception.args[0])
        self.assertEqual(before, file_state(mbox))
        p = s.login("alice", "pw")
        self.assertEqual(p.stat()[0], 2)
        self.assertEqual(p.retr(1)[1][-1], b"1")
        p.dele(1)
        p.quit()
        with open(mbox, "rb") as f:
            self.assertNotIn(b"Subject: one", f.read())
        st = os.stat(mbox)
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)),
                         (UID_A, mail_gid, 0o660))
        # No dotlock or rewrite copy left behind.
        left = [n for n in os.listdir(spool) if n.endswith(".lock") or
                "poplar-new" in n]
        self.assertEqual(left, [])

    def test_uid_below_first_valid_uid_is_refused(self):
        s = self.make_server(extra_users=[("daemonish", 42, [b"x\n"])])
        with self.assertRaises(poplib.error_proto) as e:
            s.login("daemonish", "pw")
        self.assertIn(b"[SYS/PERM]", e.exception.args[0])
        s.wait_for_log(r"uid 42, below first-valid-uid")

    def test_killed_user_process_cuts_only_its_sessions_and_deletes_nothing(self):
        s = self.make_server()
        pa = s.login("alice", "pw")
        pb = s.login("bob", "pw")
        pa.dele(1)
        for pid, uid in poplard_uids(s.proc.pid).items():
            if uid == UID_A:
                os.kill(pid, signal.SIGKILL)
        with self.assertRaises((poplib.error_proto, OSError, EOFError)):
            pa.quit()
        self.assertEqual(pb.stat()[0], 1)  # bob's session goes on
        pb.quit()
        p = poplartest.login_when_free(s, s.users["alice"])
        self.assertEqual(p.stat()[0], 2)
        p.quit()

    def test_users_of_the_workers_uid_stay_in_the_worker(self):
        uid = self.worker_uid()
        s = self.make_server(extra_users=[("vmail", uid, [b"v\n"])])
        p = s.login("vmail", "pw")
        self.assertEqual(p.stat()[0], 1)
        p.quit()
        self.assertFalse([l for l in s.log_lines()
                          if "served as uid %d" % uid in l])


if __name__ == "__main__":
    poplartest.main()
