import { createClient } from 'redis';
import { startProject, registerUsers } from '../bench/lib/project.js';
import { connectMany, closeAll } from '../bench/lib/sockets.js';
import { installCleanup } from '../bench/lib/children.js';
installCleanup();
const prefix = `hsprobe:${Date.now()}:`;
const project = await startProject({ prefix, env: { RATE_LIMITS: 'typing=100000000/10', MAX_SOCKETS_PER_USER: '1000000' } });
const users = await registerUsers(project.url, 'hs' + Date.now().toString(36), 'h', 100);
const cookies = users.map((u) => u.cookie);
const r = createClient({ url: 'redis://127.0.0.1:6379' }); await r.connect();
const stats = async () => Object.fromEntries([...(await r.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
for (let round = 0; round < 3; round++) {
  const a = await stats();
  const socks = await connectMany(project.url, 2000, cookies, 25);
  const b = await stats();
  const diff = Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)] as const).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
  console.log(`round ${round}:`, diff.map(([k, v]) => `${k}=${v}`).join(' '));
  closeAll(socks);
  await new Promise((res) => setTimeout(res, 3000));
}
await project.stop(); await r.quit(); process.exit(0);
