// The demos' balancer: an nginx config that round-robins over the pods and fails over when one stops answering.

/** nginx.conf for `nginx -p prefix`: every temp path under the prefix, `upstreams` as host:port (names or addresses). */
export function nginxConfig(prefix: string, upstreams: readonly string[], listen: string): string {
  return `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  upstream pods {
${upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=30s;`).join('\n')}
  }
  server {
    listen ${listen};
    location / { proxy_pass http://pods; proxy_connect_timeout 1s; proxy_next_upstream error timeout; }
  }
}
`
}
