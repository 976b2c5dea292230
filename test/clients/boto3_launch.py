"""Launches an image as a user's script would, driven by Debian's
python3-boto3: an ed25519 key pair, port 22 opened in the default security
group, RunInstances with the key and a cloud-config user data, then the
instance_running waiter.

Run by test/integration/debian-image.test.ts as `/usr/bin/python3 -I
boto3_launch.py`, with AMIBOOT_CLIENT (JSON: endpoint, accessKeyId,
secretAccessKey, imageId, instanceType, userData, keyFile: where to write the
private key). Prints one JSON object: the instance as DescribeInstances shows
it, and when RunInstances was sent (ms since the epoch).
"""

import json
import os
import time

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

key = ec2.create_key_pair(KeyName="debian-test", KeyType="ed25519")
with open(config["keyFile"], "w") as f:
    f.write(key["KeyMaterial"].rstrip("\n") + "\n")
os.chmod(config["keyFile"], 0o600)
ec2.authorize_security_group_ingress(GroupName="default", IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

sent = time.time() * 1000
run = ec2.run_instances(
    ImageId=config["imageId"],
    InstanceType=config["instanceType"],
    KeyName="debian-test",
    UserData=config["userData"],
    MinCount=1,
    MaxCount=1,
)
instance_id = run["Instances"][0]["InstanceId"]
ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 120})
instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
print(json.dumps({"sentMs": sent, "instance": instance}, default=str))
