import path from "node:path";
import { openDb, type Db } from "../store/db.js";
import { VolumeStore } from "../volumes/store.js";
import { Accounts } from "./accounts.js";
import { Images } from "./images.js";

/** The control plane over one data directory: accounts, images, the volume store. */
export class Cloud {
  readonly db: Db;
  readonly accounts: Accounts;
  readonly volumes: VolumeStore;
  readonly images: Images;

  constructor(readonly home: string) {
    this.db = openDb(home);
    this.accounts = new Accounts(this.db);
    this.volumes = new VolumeStore(home);
    this.images = new Images(this.db, this.volumes, path.join(home, "buckets"));
  }

  close(): void {
    this.db.close();
  }
}
