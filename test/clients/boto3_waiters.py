"""boto3's EC2 waiters against amiboot's endpoint, driven by Debian's
python3-boto3: each waiter is run at the moment its resource reaches the
awaited state, through a real lifecycle (an image registered from
AMIBOOT_CLIENT's snapshot, an instance that boots, stops and terminates, a
volume attached and detached, a snapshot, a key pair, a security group).

Run by test/integration/waiters.test.ts as `/usr/bin/python3 -I
boto3_waiters.py`, with AMIBOOT_CLIENT (JSON: endpoint, accessKeyId,
secretAccessKey, snapshotId). Prints one JSON object: the waiters that
returned, in order; a waiter that times out or fails raises (traceback on
stderr, exit code 1).
"""

import json
import os

import boto3
from botocore.config import Config

config = json.loads(os.environ["AMIBOOT_CLIENT"])
ec2 = boto3.Session().client(
    "ec2",
    endpoint_url=config["endpoint"],
    region_name="us-east-1",
    aws_access_key_id=config["accessKeyId"],
    aws_secret_access_key=config["secretAccessKey"],
    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
)
done = []


def wait(name, **kwargs):
    ec2.get_waiter(name).wait(WaiterConfig={"Delay": 1, "MaxAttempts": 120}, **kwargs)
    done.append(name)


image_id = ec2.register_image(
    Name="waiters",
    VirtualizationType="hvm",
    RootDeviceName="/dev/sda1",
    BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": config["snapshotId"]}}],
)["ImageId"]
wait("image_available", ImageIds=[image_id])
wait("image_exists", ImageIds=[image_id])

ec2.create_key_pair(KeyName="waiting")
wait("key_pair_exists", KeyNames=["waiting"])
group_id = ec2.create_security_group(GroupName="waiting", Description="waiters")["GroupId"]
wait("security_group_exists", GroupIds=[group_id])

instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t1.micro", MinCount=1, MaxCount=1, KeyName="waiting", SecurityGroupIds=[group_id])["Instances"][0]["InstanceId"]
wait("instance_exists", InstanceIds=[instance_id])
wait("instance_running", InstanceIds=[instance_id])
wait("instance_status_ok", InstanceIds=[instance_id])
wait("system_status_ok", InstanceIds=[instance_id])

volume_id = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
wait("volume_available", VolumeIds=[volume_id])
ec2.stop_instances(InstanceIds=[instance_id])
wait("instance_stopped", InstanceIds=[instance_id])
zone = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]
if zone != "us-east-1a":
    raise SystemExit(f"instance in {zone}, expected us-east-1a")
ec2.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
wait("volume_in_use", VolumeIds=[volume_id])
snapshot_id = ec2.create_snapshot(VolumeId=volume_id, Description="waiters")["SnapshotId"]
wait("snapshot_completed", SnapshotIds=[snapshot_id])
ec2.detach_volume(VolumeId=volume_id)
wait("volume_available", VolumeIds=[volume_id])
ec2.delete_volume(VolumeId=volume_id)
wait("volume_deleted", VolumeIds=[volume_id])

ec2.terminate_instances(InstanceIds=[instance_id])
wait("instance_terminated", InstanceIds=[instance_id])
print(json.dumps({"waiters": done}))
