/**
 * hooks/packdebug.bashrc next to phase hooks of the user's own, over several
 * phases (issue 10).
 *
 * Portage runs every phase in a new bash process: it sources the environment
 * saved after the phase before (`declare -p` and `declare -fp`, functions
 * included), then /etc/portage/bashrc again, then calls pre_<phase>,
 * <phase> and post_<phase>. A binpkg carries that saved environment to
 * other hosts. PHASE below does the same, reduced to what matters here, and
 * every test runs three phases (setup, install, preinst), each in a new
 * bash with a time limit and FUNCNEST, so a recursion fails the test
 * instead of hanging it. PACKDEBUG_BIN is a stub that only counts its runs.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from './helpers/images.js';
import { requireTool } from './helpers/tools.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BASHRC = join(REPO, 'hooks/packdebug.bashrc');
/** The hook as released in 0.1.0, which wrapped user hooks by renaming them. */
const LEGACY_BASHRC = join(REPO, 'fixtures/hooks/packdebug-0.1.0.bashrc');

const PHASE_TIMEOUT_MS = 20_000;

/**
 * One phase: $1 the phase (setup, install or preinst), $2 the saved
 * environment to load ('' for none), $3 the bashrc ('' for none), $4 where
 * to save the environment afterwards ('' for nowhere). Variables are saved
 * as Portage does, all of them except those bash and the harness own.
 */
const PHASE = String.raw`#!/bin/bash
FUNCNEST=100
__h_baseline=$(compgen -v | sort)
einfo() { echo " * $*" >&2; }
ewarn() { echo " * $*" >&2; }
eerror() { echo " * $*" >&2; }
die() { eerror "ERROR: $*"; exit 1; }
EBUILD_PHASE=$1
case $1 in
	setup) __h_func=pkg_setup ;;
	install) __h_func=src_install ;;
	preinst) __h_func=pkg_preinst ;;
	postinst) __h_func=pkg_postinst ;;
	postrm) __h_func=pkg_postrm ;;
esac
[[ -n $2 ]] && source "$2"
[[ -n $3 ]] && source "$3"
for __h_hook in "pre_$__h_func" "$__h_func" "post_$__h_func"; do
	declare -F "$__h_hook" >/dev/null && "$__h_hook"
done
if [[ -n $4 ]]; then
	{
		declare -fp
		for __h_var in $(comm -13 <(echo "$__h_baseline") <(compgen -v | sort)); do
			[[ $__h_var == @(__h_*|EBUILD_PHASE) ]] || declare -p "$__h_var"
		done
	} >"$4"
fi
echo "phase $1 completed"
`;

/** The bashrc in the issue: keeps whatever pre_pkg_preinst exists as my_prev_pre_pkg_preinst and calls it. */
const ISSUE_WRAPPER = String.raw`
if declare -F pre_pkg_preinst >/dev/null && ! declare -f pre_pkg_preinst | grep -q my_dump; then
	eval "$(declare -f pre_pkg_preinst | sed '1s/^pre_pkg_preinst/my_prev_pre_pkg_preinst/')"
fi
my_dump() { echo "my dump $1"; }
pre_pkg_preinst() {
	my_dump before; declare -F my_prev_pre_pkg_preinst >/dev/null && my_prev_pre_pkg_preinst; my_dump after;
}
`;

/** The same pattern with another guard: rename only while the saved name is free. */
const wrapperByFreeName = (hook: string, tag: string) => String.raw`
if declare -F ${hook} >/dev/null && ! declare -F ${tag}_prev_${hook} >/dev/null; then
	eval "$(declare -f ${hook} | sed '1s/^${hook}/${tag}_prev_${hook}/')"
fi
${hook}() {
	echo "${tag} ${hook} before"
	declare -F ${tag}_prev_${hook} >/dev/null && ${tag}_prev_${hook}
	echo "${tag} ${hook} after"
}
`;

const userHook = (hook: string, body = '') => `${hook}() { echo "user ${hook} ran in $EBUILD_PHASE"; ${body} }`;

interface Run {
  /** stdout of the preinst phase */
  stdout: string;
  stderr: string;
  /** How often the stub packdebug ran, in any phase. */
  packdebugRuns: number;
}

const hasBash = requireTool('bash') && requireTool('comm');

describe.skipIf(!hasBash)('packdebug.bashrc and the hooks of others, three phases deep', () => {
  let dir: string;
  let phaseScript: string;
  let counter: string;
  let stub: string;
  let n = 0;

  beforeAll(async () => {
    dir = await tmpdir('hook-chaining');
    phaseScript = join(dir, 'phase.sh');
    await writeFile(phaseScript, PHASE);
    counter = join(dir, 'packdebug-runs');
    stub = join(dir, 'packdebug');
    await writeFile(stub, `#!/bin/sh\necho "$EBUILD_PHASE $*" >>'${counter}'\n`);
    await chmod(stub, 0o755);
  });

  /** A bashrc: PACKDEBUG_BIN, `before`, the source line(s), `after`. */
  async function bashrc(opts: { before?: string; after?: string; times?: number; hook?: string }): Promise<string> {
    const lines = [`PACKDEBUG_BIN='${stub}'`];
    if (opts.before) lines.push(opts.before);
    for (let i = 0; i < (opts.times ?? 1); i++) lines.push(`source '${opts.hook ?? BASHRC}'`);
    if (opts.after) lines.push(opts.after);
    const file = join(dir, `bashrc-${++n}`);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  async function phase(name: string, envIn: string, rc: string, envOut: string) {
    const r = await execa('bash', [phaseScript, name, envIn, rc, envOut], {
      env: { PATH: process.env.PATH },
      extendEnv: false,
      reject: false,
      timeout: PHASE_TIMEOUT_MS,
    });
    expect(r.timedOut, `the ${name} phase did not end within ${PHASE_TIMEOUT_MS / 1000} s`).toBe(false);
    expect(r.stderr, `${name}: bash hit FUNCNEST, i.e. a recursion`).not.toMatch(/maximum function nesting level/);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`phase ${name} completed`);
    return { stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /**
   * setup and install with `rc`, then preinst with `preinstRc` (default
   * `rc`; another host's bashrc for a binpkg merged elsewhere), each over
   * the environment the phase before saved.
   */
  async function threePhases(rc: string, preinstRc: string = rc): Promise<Run> {
    await writeFile(counter, '');
    const env1 = join(dir, `env-${++n}`);
    const env2 = join(dir, `env-${++n}`);
    await phase('setup', '', rc, env1);
    await phase('install', env1, rc, env2);
    const r = await phase('preinst', env2, preinstRc, '');
    const runs = (await readFile(counter, 'utf8')).split('\n').filter(Boolean);
    for (const line of runs) expect(line).toBe('preinst hook');
    return { ...r, packdebugRuns: runs.length };
  }

  const count = (text: string, what: string) => text.split('\n').filter((l) => l === what).length;

  it("the issue's wrapper (renaming pre_pkg_preinst): packdebug once, the user's hook once", async () => {
    const r = await threePhases(await bashrc({ after: ISSUE_WRAPPER }));
    expect(count(r.stdout, 'my dump before')).toBe(1);
    expect(count(r.stdout, 'my dump after')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it('a wrapper sourced before packdebug.bashrc, and wrappers of both hooks', async () => {
    let r = await threePhases(await bashrc({ before: ISSUE_WRAPPER }));
    expect(count(r.stdout, 'my dump before')).toBe(1);
    expect(count(r.stdout, 'my dump after')).toBe(1);
    expect(r.packdebugRuns).toBe(1);

    r = await threePhases(
      await bashrc({
        after: wrapperByFreeName('pre_pkg_preinst', 'mine') + wrapperByFreeName('post_pkg_preinst', 'mine'),
      }),
    );
    for (const line of ['pre_pkg_preinst before', 'pre_pkg_preinst after', 'post_pkg_preinst before']) {
      expect(count(r.stdout, `mine ${line}`), line).toBe(1);
    }
    expect(r.packdebugRuns).toBe(1);
  });

  it("a user's pre_pkg_preinst defined before the file is sourced: both run once", async () => {
    const r = await threePhases(await bashrc({ before: userHook('pre_pkg_preinst') }));
    expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it('sourced twice, then a plain pre_pkg_preinst replaces ours: post_pkg_preinst packs, once', async () => {
    const r = await threePhases(await bashrc({ times: 2, after: userHook('pre_pkg_preinst') }));
    expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it('both hooks your own: packdebug runs once where you call it, and not at all if you do not', async () => {
    const both = (body: string) => `${userHook('pre_pkg_preinst', body)}\n${userHook('post_pkg_preinst')}`;
    // Called from a helper of the hook, before and after the source line.
    const helper = 'my_helper() { packdebug_pre_pkg_preinst; }';
    for (const rc of [
      await bashrc({ before: `${helper}\n${both('my_helper;')}` }),
      await bashrc({ after: `${helper}\n${both('my_helper;')}` }),
    ]) {
      const r = await threePhases(rc);
      expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
      expect(count(r.stdout, 'user post_pkg_preinst ran in preinst')).toBe(1);
      expect(r.packdebugRuns).toBe(1);
      expect(r.stderr).not.toContain('neither calls');
    }
    const r = await threePhases(await bashrc({ before: both('') }));
    expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
    expect(count(r.stdout, 'user post_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(0);
    // Not silent: the preinst phase says that nothing will pack, once.
    expect(r.stderr.split('\n').filter((l) => l.includes('are both your own and neither calls'))).toHaveLength(1);
  });

  it('a call of your own next to our hooks still runs packdebug once', async () => {
    const r = await threePhases(await bashrc({ after: userHook('post_pkg_preinst', 'packdebug_pre_pkg_preinst;') }));
    expect(count(r.stdout, 'user post_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it('a binpkg merged on a client that does not source the file: packdebug does not run', async () => {
    const client = join(dir, 'client-bashrc');
    await writeFile(client, '# no packdebug here\n');
    for (const rc of [
      await bashrc({ after: ISSUE_WRAPPER }),
      await bashrc({ before: userHook('pre_pkg_preinst') }),
      await bashrc({}),
    ]) {
      const r = await threePhases(rc, client);
      expect(r.packdebugRuns).toBe(0);
      expect(r.stderr).toBe('');
    }
    // The binhost's own hooks travel in the environment and run, once.
    const r = await threePhases(await bashrc({ after: ISSUE_WRAPPER }), client);
    expect(count(r.stdout, 'my dump before')).toBe(1);
    expect(count(r.stdout, 'my dump after')).toBe(1);
  });

  it('a binpkg built on a host with other hooks, merged on one that sources the file too', async () => {
    const builtOn = await bashrc({ after: ISSUE_WRAPPER });
    const r = await threePhases(builtOn, await bashrc({ before: userHook('pre_pkg_preinst') }));
    expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it("an environment saved with 0.1.0's wrapping hook (the recursion of issue 10) is defused", async () => {
    // setup and install with the old file leave the environment the issue
    // describes; preinst then sources the new one.
    const legacy = await bashrc({ hook: LEGACY_BASHRC, after: ISSUE_WRAPPER });
    let r = await threePhases(legacy, await bashrc({ after: ISSUE_WRAPPER }));
    expect(count(r.stdout, 'my dump before')).toBe(1);
    expect(count(r.stdout, 'my dump after')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
    // A hook the old file kept as __packdebug_user_pre_pkg_preinst gets its name back.
    const legacyKept = await bashrc({ hook: LEGACY_BASHRC, before: userHook('pre_pkg_preinst') });
    r = await threePhases(legacyKept, await bashrc({}));
    expect(count(r.stdout, 'user pre_pkg_preinst ran in preinst')).toBe(1);
    expect(r.packdebugRuns).toBe(1);
  });

  it('two renaming wrappers recurse on their own, without packdebug (the pattern, not the hook)', async () => {
    // What docs/hook.md tells users: this is theirs to fix.
    const other = ISSUE_WRAPPER.replaceAll('my_dump', 'other_dump').replaceAll('my_prev', 'other_prev');
    const rc = join(dir, 'two-wrappers');
    await writeFile(rc, `${ISSUE_WRAPPER}\n${other}\n`);
    const env1 = join(dir, 'two-wrappers-env');
    const r1 = await execa('bash', [phaseScript, 'install', '', rc, env1], {
      reject: false,
      timeout: PHASE_TIMEOUT_MS,
    });
    expect(r1.exitCode).toBe(0);
    const r2 = await execa('bash', [phaseScript, 'preinst', env1, rc, ''], {
      reject: false,
      timeout: PHASE_TIMEOUT_MS,
    });
    expect(r2.timedOut).toBe(false);
    expect(r2.stderr).toMatch(/maximum function nesting level exceeded/);
  });

  it('PACKDEBUG_INDEX=1: postinst and postrm update the index of the package directory; unset, nothing', async () => {
    const root = join(dir, 'root');
    await mkdir(join(root, 'usr/lib/debug/.tarball'), { recursive: true });
    const vars = `CATEGORY=app-misc; PN=hello; PF=hello-1.0; EROOT='${root}/'`;
    for (const [index, expected] of [
      ['PACKDEBUG_INDEX=1', [`index ${root}/usr/lib/debug/.tarball --only app-misc/hello`]],
      ['', []],
    ] as const) {
      const rc = await bashrc({ before: `${vars}; ${index}` });
      for (const name of ['postinst', 'postrm']) {
        await writeFile(counter, '');
        await phase(name, '', rc, '');
        const runs = (await readFile(counter, 'utf8')).split('\n').filter(Boolean);
        expect(runs, `${name} ${index}`).toEqual(expected.map((e) => ` ${e}`));
      }
    }
  });
});
