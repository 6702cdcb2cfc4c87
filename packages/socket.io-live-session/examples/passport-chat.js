// Express + express-session + Passport + Socket.IO, with one live session for both.
import { createServer } from 'node:http';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import { Server } from 'socket.io';
import { liveSession } from 'socket.io-live-session';

// Plainly for the example: one user with a plain-text password. Use a database and a password hash.
const users = new Map([['alice', { name: 'alice', password: 'wonderland' }]]);
passport.use(new LocalStrategy((name, password, done) => {
  const user = users.get(name);
  done(null, user?.password === password ? user : false);
}));
passport.serializeUser((user, done) => done(null, user.name));
passport.deserializeUser((name, done) => done(null, users.get(name) ?? false));

const live = liveSession({ store: new session.MemoryStore() }); // any express-session store
const sessionMiddleware = session({ store: live.store, secret: process.env.SESSION_SECRET ?? 'change me', resave: false, saveUninitialized: false });
const app = express();
app.use(express.json(), sessionMiddleware, passport.session());
app.post('/login', passport.authenticate('local'), (req, res) => res.json({ user: req.user.name }));
app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.json({ ok: true }))));
app.get('/me', (req, res) => (req.user ? res.json({ user: req.user.name, theme: req.session.theme ?? null }) : res.sendStatus(401)));
app.post('/theme', (req, res) => {
  if (!req.user) return res.sendStatus(401);
  req.session.theme = String(req.body.theme);
  res.json({ theme: req.session.theme });
});

const httpServer = createServer(app);
const io = new Server(httpServer);
live.attach(io, sessionMiddleware, passport.session()); // sockets without a logged-in session are refused
const view = (s) => ({ user: s.passport.user, theme: s.theme ?? null });
live.on('change', (socket, s) => socket.emit('session', view(s))); // any change, from HTTP or a socket
io.on('connection', (socket) => {
  const s = live.session(socket); // the live session: read it whenever you need it, no store round trip
  if (!s) return; // it ended while the socket connected
  socket.emit('session', view(s));
  socket.on('theme', (theme, ack) => {
    live.update(socket, (draft) => { draft.theme = String(theme); }).then((s) => ack?.(view(s)), (err) => ack?.({ error: err.message }));
  });
});
httpServer.listen(Number(process.env.PORT ?? 3000), () => console.log(`listening on http://localhost:${httpServer.address().port}`));
