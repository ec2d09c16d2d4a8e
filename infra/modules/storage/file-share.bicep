// The Azure Files share mounted at the relay's DATA_DIR: the spool of conversations the store
// has not taken yet, and the checkpoints of live calls, survive a restart or a new revision.
// The share is small and mostly empty: documents stay in it only while Cosmos DB is unreachable.

@description('Storage account name: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param accountName string

@description('Azure region of the account.')
param location string

@description('Tags of the account.')
param tags object = {}

@description('Name of the file share.')
param shareName string = 'relay-data'

@description('Size limit of the share in GiB (billed by what is used, not by this quota).')
@minValue(1)
param shareQuotaGiB int = 5

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: the Container Apps Consumption environment mounts the share over the public endpoint with no fixed address to allow; deny-by-default needs VNet integration
  // checkov:skip=CKV_AZURE_206: LRS is enough: the share holds only what Cosmos DB has not taken yet, for seconds to minutes
  // checkov:skip=CKV_AZURE_43: the name is the parameter accountName ('st' + a hash of lowercase letters and digits, 3 to 24 by @minLength/@maxLength), which checkov cannot evaluate
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // The Container Apps environment mounts SMB shares with the account key.
    allowSharedKeyAccess: true
  }
}

resource files 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource share 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: files
  name: shareName
  properties: {
    shareQuota: shareQuotaGiB
    enabledProtocols: 'SMB'
  }
}

output accountName string = account.name
output shareName string = share.name
