import Database from "better-sqlite3";
import fs from "node:fs";
import path from "node:path";

/**
 * The control plane's metadata in SQLite (WAL): one file under
 * $AMIBOOT_HOME, migrated forward by `user_version`. Every multi-step change
 * runs in one transaction, so a crash never leaves half of it.
 */
const MIGRATIONS: string[] = [
  `create table accounts (
     id text primary key,
     created_at text not null
   );
   create table access_keys (
     access_key_id text primary key,
     secret text not null,
     account_id text not null references accounts(id),
     created_at text not null
   );
   create table images (
     id text primary key,
     region text not null,
     owner_id text not null references accounts(id),
     name text not null,
     description text,
     state text not null,
     state_reason text,
     architecture text not null,
     virtualization_type text not null,
     root_device_type text not null,
     root_device_name text not null,
     image_location text,
     block_device_mappings text not null,
     is_public integer not null default 0,
     created_at text not null
   );
   create unique index images_name on images(region, owner_id, name) where state != 'deregistered';
   create table launch_permissions (
     image_id text not null references images(id),
     user_id text not null,
     primary key (image_id, user_id)
   );
   create table tags (
     resource_id text not null,
     key text not null,
     value text not null,
     primary key (resource_id, key)
   );`,
  // DescribeImages scans a region's images and the caller's grants.
  `create index images_region on images(region, created_at);
   create index launch_permissions_user on launch_permissions(user_id);`,
  // Snapshots belong to an account in a region; their blocks live in the volume store.
  `create table snapshots (
     id text primary key,
     region text not null,
     owner_id text not null references accounts(id),
     volume_size integer not null,
     description text,
     state text not null,
     created_at text not null
   );
   create index snapshots_owner on snapshots(region, owner_id);`,
  // Instances: devices are the volumes made at launch; disks are the boot plan's specs, to boot again after a stop.
  `create table instances (
     id text primary key,
     reservation_id text not null,
     region text not null,
     owner_id text not null references accounts(id),
     image_id text not null,
     instance_type text not null,
     launch_index integer not null,
     state text not null,
     state_reason text,
     architecture text not null,
     virtualization_type text not null,
     root_device_type text not null,
     root_device_name text not null,
     devices text not null,
     disks text not null,
     memory_mib integer not null,
     user_data text,
     launch_time text not null,
     milestones text not null
   );
   create index instances_owner on instances(region, owner_id);`,
  // The network: key pairs (public keys only), security groups and their ingress rules, and each instance's
  // network identity (MAC, addresses, subnet, groups, key, metadata options), stable across stop and start.
  `create table key_pairs (
     id text primary key,
     region text not null,
     owner_id text not null references accounts(id),
     name text not null,
     key_type text not null,
     fingerprint text not null,
     public_key text not null,
     created_at text not null,
     unique (region, owner_id, name)
   );
   create table security_groups (
     id text primary key,
     region text not null,
     owner_id text not null references accounts(id),
     vpc_id text not null,
     name text not null,
     description text not null,
     created_at text not null,
     unique (region, owner_id, vpc_id, name)
   );
   create table security_group_rules (
     group_id text not null references security_groups(id) on delete cascade,
     protocol text not null,
     from_port integer not null,
     to_port integer not null,
     source text not null,
     primary key (group_id, protocol, from_port, to_port, source)
   );
   create table instance_networks (
     instance_id text primary key references instances(id),
     mac text not null unique,
     private_ip text not null,
     public_ip text not null,
     interface_id text not null,
     subnet_id text not null,
     vpc_id text not null,
     zone text not null,
     key_name text,
     public_key text,
     groups text not null,
     metadata_options text not null
   );`,
  // EBS volumes as EC2 resources (whose, where, which type); their blocks live in the volume store,
  // their attachments are the devices of instances.
  `create table volumes (
     id text primary key,
     region text not null,
     owner_id text not null references accounts(id),
     zone text not null,
     volume_type text not null,
     iops integer,
     snapshot_id text,
     created_at text not null
   );
   create index volumes_owner on volumes(region, owner_id);`,
  // The instance attributes beyond the launch facts (termination protection, shutdown behavior, ...), as JSON.
  `alter table instances add column attributes text not null default '{}';`,
  // ClientToken idempotency: the first answer to each token, with a hash of the request's parameters.
  `create table client_tokens (
     owner_id text not null,
     region text not null,
     action text not null,
     token text not null,
     params_hash text not null,
     answer text not null,
     created_at text not null,
     primary key (owner_id, region, action, token)
   );`,
  // Snapshot createVolumePermission: an account id, or 'all' (public).
  `create table snapshot_permissions (
     snapshot_id text not null references snapshots(id) on delete cascade,
     grantee text not null,
     primary key (snapshot_id, grantee)
   );`,
];

export type Db = Database.Database;

export function openDb(home: string): Db {
  fs.mkdirSync(home, { recursive: true });
  const db = new Database(path.join(home, "amiboot.sqlite"));
  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  const version = db.pragma("user_version", { simple: true }) as number;
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
  return db;
}
