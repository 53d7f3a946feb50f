// The images' HEALTHCHECK: exits 0 when the service's /readyz answers 200. The port is HTTP_PORT
// when it is set, as the service reads it, else the image's default, given as the argument.
const http = require('node:http');

const port = Number((process.env.HTTP_PORT ?? '').trim() || process.argv[2]);
const request = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 2_000 }, (response) => {
  response.resume();
  process.exit(response.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('timed out')));
request.on('error', () => process.exit(1));
