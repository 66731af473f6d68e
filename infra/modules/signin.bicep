// Approver mode (APPLY_AS=approver): the app registration behind Teams single sign-on and the Azure Bot's OAuth
// connection. It exposes api://botid-<bot id> with one scope (access_as_user), pre-authorises the Teams clients so
// they get a person's token silently, and holds the delegated Microsoft Graph scopes an approver's own sign-in uses,
// consented for the organisation. The app's own Graph identity then keeps read permissions only.
// Needs the Microsoft Graph Bicep extension (bicepconfig.json); whoever provisions must be allowed to create apps
// and grant consent (Cloud Application Administrator and Privileged Role Administrator, or Global Administrator).

extension microsoftGraphV1

@description('The Azure Bot\'s app id: Teams asks for tokens for api://botid-<this id>.')
param botId string

param displayName string

@description('Stable name of the app registration, so provisioning again updates it.')
param uniqueName string

@description('Delegated Microsoft Graph scopes the OAuth connection asks for, by name.')
param graphScopes array

var teamsClients = [
  '1fec8e78-bce4-4aaf-ab1b-5451cc387264' // Teams desktop and mobile
  '5e3ce6c0-2b1f-4285-8d4b-75ee78787346' // Teams web
]
var scopeId = guid(uniqueName, 'access_as_user')

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  identifierUris: [
    'api://botid-${botId}'
  ]
  web: {
    redirectUris: [
      'https://token.botframework.com/.auth/web/redirect'
    ]
  }
  api: {
    requestedAccessTokenVersion: 2
    oauth2PermissionScopes: [
      {
        id: scopeId
        value: 'access_as_user'
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Approve changes in Enrollment Doctor as yourself'
        adminConsentDescription: 'Lets Teams sign you in to Enrollment Doctor, which then makes an approved change with your own account.'
        userConsentDisplayName: 'Approve changes in Enrollment Doctor as yourself'
        userConsentDescription: 'Lets Enrollment Doctor make a change you approve with your own account.'
      }
    ]
    preAuthorizedApplications: [
      for client in teamsClients: {
        appId: client
        delegatedPermissionIds: [
          scopeId
        ]
      }
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: graph.appId
      resourceAccess: [
        for scope in graphScopes: {
          id: filter(graph.oauth2PermissionScopes, s => s.value == scope)[0].id
          type: 'Scope'
        }
      ]
    }
  ]
}

resource principal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

resource consent 'Microsoft.Graph/oauth2PermissionGrants@v1.0' = {
  clientId: principal.id
  consentType: 'AllPrincipals'
  resourceId: graph.id
  scope: join(graphScopes, ' ')
}

output appId string = app.appId
